//! Property tests: no input panics; every well-formed frame parses to what was built and
//! classifies to the listener a plain reference picks.

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::select;

use crate::build::FrameBuilder;
use crate::headers::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6};
use crate::{
    Action, Class, Classifier, ControlFrame, Flow, Listener, Mode, Prefix, Rules, Slow, TcpFlags,
    Verdict, control_frame, parse,
};

const V4: [&str; 2] = ["10.0.0.1", "10.0.0.2"];
const V6: [&str; 3] = ["2001:db8::1", "2001:db8::2", "::ffff:10.0.0.1"];
const PORTS: [u16; 4] = [80, 25, 8080, 9000];
const CLASSES: [Class; 5] = [Class::Mm1, Class::Mm4, Class::Mm7, Class::Mm3, Class::Other];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Rules that drop nothing and redirect MM1/MM4: the class alone decides the action.
fn open_rules(listeners: Vec<Listener>) -> Rules {
    Rules {
        listeners,
        mm4_peers: vec![
            Prefix {
                addr: ip("0.0.0.0"),
                len: 0,
            },
            Prefix {
                addr: ip("::"),
                len: 0,
            },
        ],
        syn_rate: 0,
        syn_burst: 0,
        mode: Mode::Redirect,
    }
}

/// Strict rules: a peer list, a tight SYN limit, redirect.
fn strict_rules() -> Rules {
    Rules {
        listeners: vec![
            Listener {
                addr: None,
                port: 80,
                class: Class::Mm1,
            },
            Listener {
                addr: None,
                port: 25,
                class: Class::Mm4,
            },
        ],
        mm4_peers: vec![Prefix {
            addr: ip("10.0.0.0"),
            len: 8,
        }],
        syn_rate: 1,
        syn_burst: 2,
        mode: Mode::Redirect,
    }
}

/// [`strict_rules`] with owned addresses of both families (step 5's owned-address rule).
fn strict_classifier() -> Classifier {
    let mut c = Classifier::new(&strict_rules());
    c.set_owned_addresses(&[ip("10.0.0.1"), ip("2001:db8::1"), ip("0.0.0.0"), ip("::")]);
    c
}

/// What [`control_frame`] finds is only ever in a frame [`parse`] refuses as not IP or not
/// TCP, and the classifier redirects exactly the control frames for its owned addresses.
fn control_invariants(frame: &[u8], v: &Verdict, c: &Classifier) -> Result<(), TestCaseError> {
    let control = control_frame(frame);
    if control.is_some() {
        prop_assert!(matches!(parse(frame), Err(Slow::NotIp | Slow::NotTcp)));
    }
    if v.slow.is_some() {
        prop_assert_eq!(v.class, Class::Other);
        let owned = match control {
            Some(ControlFrame::Arp { target }) => c.is_owned(IpAddr::V4(target)),
            Some(ControlFrame::Icmpv4 { dst }) => c.is_owned(IpAddr::V4(dst)),
            Some(ControlFrame::Icmpv6 {
                dst,
                solicit_target,
            }) => {
                c.is_owned(IpAddr::V6(dst))
                    || solicit_target.is_some_and(|t| c.is_owned(IpAddr::V6(t)))
            }
            None => false,
        };
        let want = if owned {
            Action::Redirect
        } else {
            Action::Pass
        };
        prop_assert_eq!(v.action, want);
    }
    Ok(())
}

/// The reference (the rule set's step 2, written plainly): among the listeners on the port
/// that are not of class Other, the first whose address is the destination; else the first
/// that is a wildcard of the destination's family (`None`, or its unspecified address).
fn reference_class(listeners: &[Listener], dst: IpAddr, port: u16) -> Class {
    let on_port = || {
        listeners
            .iter()
            .filter(move |l| l.port == port && l.class != Class::Other)
    };
    let wildcard = |a: IpAddr| a.is_unspecified() && a.is_ipv4() == dst.is_ipv4();
    on_port()
        .find(|l| l.addr == Some(dst) && !dst.is_unspecified())
        .or_else(|| on_port().find(|l| l.addr.is_none_or(wildcard)))
        .map_or(Class::Other, |l| l.class)
}

fn flow_invariants(flow: &Flow, len: usize) {
    assert!(flow.ip_offset >= 14);
    assert!(flow.ip_offset < flow.tcp_offset);
    assert!(flow.tcp_offset + 20 <= flow.payload_offset);
    assert!(flow.payload_offset <= flow.ip_end);
    assert!(flow.ip_end <= len);
    assert!(flow.vlan_tags <= 2);
}

fn any_addr(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        prop_oneof![
            select(&V6[..]).prop_map(ip),
            any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
        ]
        .boxed()
    } else {
        prop_oneof![
            select(&V4[..]).prop_map(ip),
            any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
        ]
        .boxed()
    }
}

prop_compose! {
    fn frame_builder()(v6 in any::<bool>())(
        v6 in Just(v6),
        src in any_addr(v6),
        dst in any_addr(v6),
        src_port in any::<u16>(),
        dst_port in prop_oneof![select(&PORTS[..]), any::<u16>()],
        flags in any::<u8>(),
        vlans in prop::collection::vec((select(&[ETH_P_8021Q, ETH_P_8021AD][..]), 0..4096u16), 0..=2),
        ipv4_options in prop::collection::vec(any::<u8>(), 0..=40),
        ipv6_ext in prop::collection::vec((select(&[0u8, 43, 60][..]), 0..5u8), 0..=8),
        tcp_options in prop::collection::vec(any::<u8>(), 0..=40),
        payload_len in 0..1500usize,
        pad_to in prop_oneof![Just(0usize), 0..1700usize],
    ) -> FrameBuilder {
        let mut b = FrameBuilder::tcp(src, src_port, dst, dst_port)
            .flags(TcpFlags(flags))
            .tcp_options(&tcp_options)
            .payload_len(payload_len)
            .pad_to(pad_to);
        b.vlans = vlans;
        if v6 {
            b.ipv6_ext = ipv6_ext;
        } else {
            b.ipv4_options = ipv4_options;
        }
        b
    }
}

fn listeners() -> impl Strategy<Value = Vec<Listener>> {
    let addr = prop_oneof![
        Just(None),
        select(&V4[..]).prop_map(|a| Some(ip(a))),
        select(&V6[..]).prop_map(|a| Some(ip(a))),
        select(&["0.0.0.0", "::"][..]).prop_map(|a| Some(ip(a))),
    ];
    prop::collection::vec(
        (addr, select(&PORTS[..]), select(&CLASSES[..])).prop_map(|(addr, port, class)| Listener {
            addr,
            port,
            class,
        }),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(frame in prop::collection::vec(any::<u8>(), 0..300)) {
        let r = parse(&frame);
        if let Ok(flow) = &r {
            flow_invariants(flow, frame.len());
        }
        let mut c = strict_classifier();
        let v = c.classify(&frame, 0);
        prop_assert_eq!(v.slow, r.err());
        control_invariants(&frame, &v, &c)?;
    }

    /// Random bytes behind a plausible Ethernet and IP start, to reach the deeper layers.
    #[test]
    fn arbitrary_ip_packets_never_panic(
        tags in prop::collection::vec(select(&[ETH_P_8021Q, ETH_P_8021AD][..]), 0..=3),
        v6 in any::<bool>(),
        next in prop_oneof![Just(6u8), select(&[0u8, 43, 44, 60, 17, 59, 1, 58][..]), any::<u8>()],
        body in prop::collection::vec(any::<u8>(), 0..200),
        len_hint in any::<u16>(),
    ) {
        let mut frame = vec![0u8; 12];
        for t in &tags {
            frame.extend_from_slice(&t.to_be_bytes());
            frame.extend_from_slice(&[0, 1]);
        }
        frame.extend_from_slice(&(if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 }).to_be_bytes());
        let ip_start = frame.len();
        frame.extend_from_slice(&body);
        // Make the IP header mostly plausible when there is room for it.
        let (len_at, proto_at) = if v6 { (4, 6) } else { (2, 9) };
        if let Some(b) = frame.get_mut(ip_start) {
            *b = if v6 { 0x60 | (*b & 0x0F) } else { 0x40 | (*b & 0x0F).max(5) };
        }
        if let Some(s) = frame.get_mut(ip_start + len_at..ip_start + len_at + 2) {
            let len = (len_hint as usize) % (body.len() + 8);
            s.copy_from_slice(&(len as u16).to_be_bytes());
        }
        if let Some(b) = frame.get_mut(ip_start + proto_at) {
            *b = next;
        }
        if let Ok(flow) = parse(&frame) {
            flow_invariants(&flow, frame.len());
        }
        let mut c = strict_classifier();
        let v = c.classify(&frame, 0);
        prop_assert_eq!(c.counters().total_packets(), 1);
        control_invariants(&frame, &v, &c)?;
    }

    /// Valid frames with bytes changed at random never panic, and whatever parses is sane.
    #[test]
    fn mutated_frames_never_panic(
        b in frame_builder(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = b.build();
        for (at, byte) in edits {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let frame = &frame[..cut.index(frame.len() + 1)];
        if let Ok(flow) = parse(frame) {
            flow_invariants(&flow, frame.len());
        }
        let mut c = Classifier::new(&strict_rules());
        for t in 0..3 {
            let v = c.classify(frame, t);
            if v.slow.is_some() {
                prop_assert_eq!(v.class, Class::Other);
                prop_assert_eq!(v.action, Action::Pass);
            }
        }
        let mut c = strict_classifier();
        let v = c.classify(frame, 0);
        control_invariants(frame, &v, &c)?;
    }

    /// Every valid frame parses to what was built and classifies to the listener the
    /// reference picks.
    #[test]
    fn valid_frames_classify_to_the_matching_listener(
        b in frame_builder(),
        listeners in listeners(),
    ) {
        let frame = b.build();
        let flow = parse(&frame).expect("a built frame parses");
        let layout = b.layout();
        flow_invariants(&flow, frame.len());
        prop_assert_eq!(flow.src, b.src);
        prop_assert_eq!(flow.dst, b.dst);
        prop_assert_eq!(flow.ip_offset, layout.ip_offset);
        prop_assert_eq!(flow.tcp_offset, layout.l4_offset);
        prop_assert_eq!(flow.payload_offset, layout.payload_offset);
        prop_assert_eq!(flow.ip_end, layout.ip_end);
        prop_assert_eq!(usize::from(flow.vlan_tags), b.vlans.len());

        let want = reference_class(&listeners, flow.dst, flow.dst_port);
        let mut c = Classifier::new(&open_rules(listeners));
        let action = if matches!(want, Class::Mm1 | Class::Mm4) {
            Action::Redirect
        } else {
            Action::Pass
        };
        prop_assert_eq!(c.classify(&frame, 0), Verdict { class: want, action, slow: None });
        let counters = c.counters();
        prop_assert_eq!(counters.packets[want.index()], 1);
        prop_assert_eq!(counters.bytes[want.index()], frame.len() as u64);
    }
}
