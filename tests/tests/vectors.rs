//! Golden vectors: every file in the shared vectors directory, decoded with `mmsc_wire` and
//! checked against what `vectors/README.md` says about it (the source's own test assertions,
//! and the tshark 4.0.17 cross-check column). The expectations below are copied from that
//! README by hand; they are not derived from our decoder.
//!
//! Notes on reading the README:
//! - dates given in a local zone (`2011-06-03T11:45:21+0200`) are converted to epoch seconds;
//! - the tshark column cuts long values at 60 characters and shows only the first To; where a
//!   value is cut it is checked as a prefix ([`Txt::Prefix`]); To lists are checked in full
//!   only where "Source says" lists every recipient;
//! - mmsd's test comments write PLMN addresses without the leading `+` that the PDUs (and the
//!   tshark column) have; the tshark column is used for the address text;
//! - subjects the README shows only as mojibake are not checked.
//!
//! Every PDU must also survive `decode(encode(p)) == p`, and no input (including every
//! truncation of every vector) may make the decoder panic.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use mmsc_tests::{epoch, files_under, vectors_dir};
use mmsc_wire::mms::{MessageType, TimeValue, Value, field};
use mmsc_wire::wsp::{ContentType, MediaType, Part, PartHeader};
use mmsc_wire::{Limits, Pdu};

/// A text expectation.
#[derive(Clone, Copy, Debug)]
enum Txt {
    /// Exactly this.
    Is(&'static str),
    /// Starts with this (the README's tshark column cut the value).
    Prefix(&'static str),
    /// This many octets, starting and ending so.
    Shape(usize, &'static str, &'static str),
    /// Equal once surrounding spaces are removed: the README's tshark column trims values
    /// (tshark 4.0.17 itself shows `show=" http://eps3.de/O/Z9IZO"` and `show="Fwd: "`).
    Trimmed(&'static str),
}

impl Txt {
    fn matches(self, got: &[u8]) -> bool {
        match self {
            Txt::Is(s) => got == s.as_bytes(),
            Txt::Prefix(s) => got.starts_with(s.as_bytes()),
            Txt::Shape(n, a, b) => {
                got.len() == n && got.starts_with(a.as_bytes()) && got.ends_with(b.as_bytes())
            }
            Txt::Trimmed(s) => got.trim_ascii() == s.as_bytes(),
        }
    }
}

/// A field that may be unchecked, must be absent, or must have a value.
#[derive(Clone, Debug, Default)]
enum Check<T> {
    #[default]
    Unchecked,
    Absent,
    Is(T),
}

#[derive(Clone, Copy, Debug)]
enum FromE {
    Insert,
    Addr(&'static str),
}

#[derive(Clone, Debug)]
enum ToE {
    /// The first To (all the tshark column shows).
    First(&'static str),
    /// Every To, in order.
    All(Vec<&'static str>),
}

#[derive(Clone, Copy, Debug)]
enum ClassE {
    Octet(u8),
    Text(&'static str),
}

#[derive(Clone, Copy, Debug)]
enum MediaE {
    Is(&'static str),
    /// The README names the type loosely ("smil").
    EndsWith(&'static str),
}

/// One expected part (sailfish test_retrieve and the mmsd worked examples).
#[derive(Clone, Debug)]
struct PartE {
    media: MediaE,
    /// `Some(None)`: no charset; `Some(Some(mib))`: that charset.
    charset: Option<Option<u64>>,
    content_id: Option<&'static str>,
    /// The README's Content-ID is mms-engine's: the part's Content-ID, or, when it has none,
    /// `<` + its Content-Location + `>` (`mms_task_decode_retrieve_conf()` in
    /// mms-lib/src/mms_task_decode.c).
    engine_id: bool,
    content_location: Option<&'static str>,
    /// File (beside the PDU, under `parts/`) holding the part's octets.
    file: Option<&'static str>,
    /// The octets themselves.
    data: Option<&'static [u8]>,
    /// Data starts with these octets.
    magic: Option<&'static [u8]>,
    /// Offset and length of the data in the PDU.
    at: Option<(usize, usize)>,
    /// Content-Transfer-Encoding (an application header) and the file holding the decoded
    /// text.
    transfer: Option<(&'static str, &'static str)>,
}

fn part(media: MediaE) -> PartE {
    PartE {
        media,
        charset: None,
        content_id: None,
        engine_id: false,
        content_location: None,
        file: None,
        data: None,
        magic: None,
        at: None,
        transfer: None,
    }
}

impl PartE {
    fn cs(mut self, c: Option<u64>) -> Self {
        self.charset = Some(c);
        self
    }
    fn cid(mut self, c: &'static str) -> Self {
        self.content_id = Some(c);
        self
    }
    fn loc(mut self, c: &'static str) -> Self {
        self.content_location = Some(c);
        self
    }
    /// sailfish test_retrieve: the Content-ID as mms-engine reports it.
    fn engine_cid(mut self, c: &'static str) -> Self {
        self.content_id = Some(c);
        self.engine_id = true;
        self
    }
    fn file(mut self, f: &'static str) -> Self {
        self.file = Some(f);
        self
    }
    fn data(mut self, d: &'static [u8]) -> Self {
        self.data = Some(d);
        self
    }
    fn magic(mut self, d: &'static [u8]) -> Self {
        self.magic = Some(d);
        self
    }
    fn at(mut self, off: usize, len: usize) -> Self {
        self.at = Some((off, len));
        self
    }
    fn transfer(mut self, cte: &'static str, decoded: &'static str) -> Self {
        self.transfer = Some((cte, decoded));
        self
    }
}

const UTF8: Option<u64> = Some(106);
const US_ASCII: Option<u64> = Some(3);
const UTF16: Option<u64> = Some(1015);

/// What the README says about one PDU.
#[derive(Clone, Debug, Default)]
struct E {
    mt: u8,
    size: Option<usize>,
    same_size_as: Option<&'static str>,
    tid: Check<&'static str>,
    version: Option<(u8, u8)>,
    msg_id: Check<&'static str>,
    from: Option<FromE>,
    to: Option<ToE>,
    subject: Check<Txt>,
    date: Option<u64>,
    status: Option<u8>,
    response_status: Option<u8>,
    response_text: Option<&'static str>,
    retrieve_status: Option<u8>,
    read_status: Option<u8>,
    priority: Option<u8>,
    delivery_report: Option<u8>,
    class: Option<ClassE>,
    msg_size: Option<u64>,
    expiry: Option<TimeValue>,
    location: Option<Txt>,
    media: Option<&'static str>,
    params: Vec<(&'static str, Txt)>,
    parts: Option<usize>,
    part_list: Vec<PartE>,
    /// Each must match some part (the README does not say which).
    any_part: Vec<PartE>,
    app_header: Option<(&'static str, &'static str)>,
}

fn e(mt: u8) -> E {
    E { mt, ..E::default() }
}

impl E {
    fn size(mut self, n: usize) -> Self {
        self.size = Some(n);
        self
    }
    fn same_size_as(mut self, f: &'static str) -> Self {
        self.same_size_as = Some(f);
        self
    }
    fn tid(mut self, s: &'static str) -> Self {
        self.tid = Check::Is(s);
        self
    }
    fn no_tid(mut self) -> Self {
        self.tid = Check::Absent;
        self
    }
    fn v(mut self, major: u8, minor: u8) -> Self {
        self.version = Some((major, minor));
        self
    }
    fn id(mut self, s: &'static str) -> Self {
        self.msg_id = Check::Is(s);
        self
    }
    fn no_id(mut self) -> Self {
        self.msg_id = Check::Absent;
        self
    }
    fn from(mut self, s: &'static str) -> Self {
        self.from = Some(FromE::Addr(s));
        self
    }
    fn insert_address(mut self) -> Self {
        self.from = Some(FromE::Insert);
        self
    }
    fn to(mut self, s: &'static str) -> Self {
        self.to = Some(ToE::First(s));
        self
    }
    fn all_to(mut self, s: &[&'static str]) -> Self {
        self.to = Some(ToE::All(s.to_vec()));
        self
    }
    fn subject(mut self, s: &'static str) -> Self {
        self.subject = Check::Is(Txt::Is(s));
        self
    }
    fn subject_t(mut self, t: Txt) -> Self {
        self.subject = Check::Is(t);
        self
    }
    fn no_subject(mut self) -> Self {
        self.subject = Check::Absent;
        self
    }
    fn date(mut self, secs: u64) -> Self {
        self.date = Some(secs);
        self
    }
    fn status(mut self, o: u8) -> Self {
        self.status = Some(o);
        self
    }
    fn resp(mut self, o: u8) -> Self {
        self.response_status = Some(o);
        self
    }
    fn resp_text(mut self, s: &'static str) -> Self {
        self.response_text = Some(s);
        self
    }
    fn retr(mut self, o: u8) -> Self {
        self.retrieve_status = Some(o);
        self
    }
    fn read(mut self, o: u8) -> Self {
        self.read_status = Some(o);
        self
    }
    fn prio(mut self, o: u8) -> Self {
        self.priority = Some(o);
        self
    }
    fn dr(mut self, o: u8) -> Self {
        self.delivery_report = Some(o);
        self
    }
    fn class(mut self, o: u8) -> Self {
        self.class = Some(ClassE::Octet(o));
        self
    }
    fn class_text(mut self, s: &'static str) -> Self {
        self.class = Some(ClassE::Text(s));
        self
    }
    fn msize(mut self, n: u64) -> Self {
        self.msg_size = Some(n);
        self
    }
    fn exp_rel(mut self, s: u64) -> Self {
        self.expiry = Some(TimeValue::Relative(s));
        self
    }
    fn exp_abs(mut self, s: u64) -> Self {
        self.expiry = Some(TimeValue::Absolute(s));
        self
    }
    fn loc(mut self, t: Txt) -> Self {
        self.location = Some(t);
        self
    }
    fn ct(mut self, media: &'static str) -> Self {
        self.media = Some(media);
        self
    }
    fn param(mut self, name: &'static str, t: Txt) -> Self {
        self.params.push((name, t));
        self
    }
    fn related_smil(self) -> Self {
        self.ct(RELATED).param("type", Txt::Is("application/smil"))
    }
    fn parts(mut self, n: usize) -> Self {
        self.parts = Some(n);
        self
    }
    fn part(mut self, p: PartE) -> Self {
        self.part_list.push(p);
        self
    }
    fn any_part(mut self, p: PartE) -> Self {
        self.any_part.push(p);
        self
    }
    fn app_header(mut self, n: &'static str, v: &'static str) -> Self {
        self.app_header = Some((n, v));
        self
    }
}

const RELATED: &str = "application/vnd.wap.multipart.related";
const MIXED: &str = "application/vnd.wap.multipart.mixed";

const SEND_REQ: u8 = 0x80;
const SEND_CONF: u8 = 0x81;
const NOTIF: u8 = 0x82;
const NOTIFYRESP: u8 = 0x83;
const RETRIEVE: u8 = 0x84;
const ACK: u8 = 0x85;
const DELIVERY: u8 = 0x86;
const READ_REC: u8 = 0x87;
const READ_ORIG: u8 = 0x88;

fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> u64 {
    epoch(y, mo, d, h, mi, s, 0)
}

/// A time in UTC+01:00 (`+0100`) or UTC+02:00 (`+0200`).
fn local(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, offset_hours: i64) -> u64 {
    epoch(y, mo, d, h, mi, s, offset_hours * 60)
}

#[derive(Debug)]
enum Row {
    Pdu(Box<E>),
    /// Not an MMS PDU: decoding must fail (without panicking).
    NotMms,
}

// Rows shared by several files.

fn notif_bi3(expiry: TimeValue) -> E {
    let mut x = e(NOTIF)
        .tid("BI3R4V2ISLR41@xma.724.com")
        .v(1, 1)
        .from("+358500000000/TYPE=PLMN")
        .msize(113_018)
        .loc(Txt::Is("http://172.19.24.3:8000/MMSBI3R4V2ISLR41"))
        .class(0x80)
        .parts(0);
    x.expiry = Some(expiry);
    x
}

fn notif_beeline() -> E {
    e(NOTIF)
        .tid("m10l9m7u03mct2jbc12@mms.beeline.ru")
        .v(1, 0)
        .from("+79050000000/TYPE=PLMN")
        .msize(25_031)
        .exp_rel(259_199)
        .loc(Txt::Is("http://mmsr5/?message-id=m10l9m7u03mct2jbc12"))
        .class(0x80)
        .parts(0)
}

fn notif_ad0b() -> E {
    e(NOTIF)
        .tid("Ad0b9pXNC_Be1I_VQ")
        .v(1, 2)
        .from("+358540000000/TYPE=PLMN")
        .msize(137_105)
        .exp_rel(259_199)
        .loc(Txt::Is("http://mmsc42:10021/mmsc/4_2?Ad0b9pXNC_Be1I_VQ"))
        .class(0x80)
        .parts(0)
}

fn notif_aaam() -> E {
    e(NOTIF)
        .tid("AaamMbG2tpp5lj4Ra")
        .v(1, 2)
        .from("+358401111111/TYPE=PLMN")
        .msize(66_070)
        .exp_rel(259_199)
        .loc(Txt::Is("http://mmsc62:10021/mmsc/6_2?AaamMbG2tpp5lj4Ra"))
        .class(0x80)
        .parts(0)
}

fn notif_bqxq() -> E {
    e(NOTIF)
        .tid("BQXQLF3OH0101@xma.724.com")
        .v(1, 1)
        .from("+358400000000/TYPE=PLMN")
        .msize(226_734)
        .exp_rel(259_199)
        .loc(Txt::Is("http://172.19.24.3:8000/MMSBQXQLF3OH0101"))
        .class(0x80)
        .parts(0)
}

fn retrieve_bi3() -> E {
    e(RETRIEVE)
        .tid("BI3R4V2ISLR41@xma.724.com")
        .v(1, 1)
        .id("B4E98D74-898C-71E3-AE87-78E7D16557E0")
        .from("+358500000000/TYPE=PLMN")
        .to("+358449722969/TYPE=PLMN")
        .date(utc(2014, 1, 30, 8, 58, 37))
        .class(0x80)
        .ct(RELATED)
        .param("start", Txt::Is("<0>"))
        .param("type", Txt::Prefix("appli"))
        .parts(5)
}

fn retrieve_aaam() -> E {
    e(RETRIEVE)
        .tid("AaamMbG2tpp5lj4Ra")
        .v(1, 2)
        .id("A896C674-AB6D-71E3-A6B5-78E7D16557CC")
        .from("+358401111111/TYPE=PLMN")
        .to("+358402222222/TYPE=PLMN")
        .date(utc(2014, 3, 14, 11, 42, 1))
        .retr(0x80)
        .class(0x80)
        .ct(RELATED)
        .param("start", Txt::Is("<332047400>"))
        .parts(3)
}

fn retrieve_bqxq(cte: &'static str) -> E {
    e(RETRIEVE)
        .tid("BQXQLF3OH0101@xma.724.com")
        .v(1, 1)
        .id("mMtUVLrWiOCjeV0q5mPh01@mms.elisa.fi")
        .from("+358400000000/TYPE=PLMN")
        .to("+358400000001/TYPE=PLMN")
        .date(utc(2015, 1, 8, 19, 8, 54))
        .class(0x80)
        .related_smil()
        .parts(3)
        .part(
            part(MediaE::EndsWith("smil"))
                .engine_cid("<smil>")
                .file("smil"),
        )
        .part(
            part(MediaE::Is("image/jpeg"))
                .cs(None)
                .engine_cid("<1.jpg>")
                .file("1.jpg"),
        )
        .part(
            part(MediaE::Is("text/plain"))
                .cs(UTF8)
                .engine_cid("<2.txt>")
                .file("2.txt.orig")
                .transfer(cte, "2.txt"),
        )
}

fn ack(tid: &'static str) -> E {
    e(ACK).tid(tid).v(1, 1).parts(0)
}

fn delivery_bh24(status: u8) -> E {
    e(DELIVERY)
        .v(1, 1)
        .id("BH24CBJJA40W1")
        .to("+358500000000/TYPE=PLNM")
        .date(utc(2013, 12, 20, 17, 31, 48))
        .status(status)
        .parts(0)
}

fn read_orig_bh24(read: u8) -> E {
    e(READ_ORIG)
        .v(1, 1)
        .id("BH24CBJJA40W1")
        .from("+358500000000/TYPE=PLMN")
        .to("+358440000001/TYPE=PLMN")
        .date(utc(2013, 12, 20, 17, 34, 15))
        .read(read)
        .parts(0)
}

fn send_conf_test(resp: u8) -> E {
    e(SEND_CONF).tid("1").v(1, 1).resp(resp).parts(0)
}

fn notifyresp_beeline() -> E {
    e(NOTIFYRESP)
        .tid("m10l9m7u03mct2jbc12@mms.beeline.ru")
        .v(1, 1)
        .status(0x84)
        .parts(0)
}

fn retrieve_7() -> E {
    e(RETRIEVE)
        .v(1, 0)
        .to("+4799999999/TYPE=PLMN")
        .date(utc(2014, 4, 22, 6, 44, 59))
        .ct(MIXED)
        .parts(1)
}

/// OMA conformance retrieve-confs from mmsd (`rc-mms-1-3-con-NNN.mms`).
fn rc(tid: &'static str, size: usize, subject: &'static str, date: u64) -> E {
    let x = e(RETRIEVE);
    let x = if size == 0 { x } else { x.size(size) };
    x.tid(tid)
        .v(1, 3)
        .from("+33622222222/TYPE=PLMN")
        .to("+33666565565/TYPE=PLMN")
        .subject(subject)
        .date(date)
}

const QUICK_FOX: &[u8] = b"The quick brown fox jumped over the lazy dog 1234567890/!()";

fn table() -> Vec<(&'static str, Row)> {
    let mut t: Vec<(&'static str, E)> = Vec::new();
    let mut not_mms: Vec<&'static str> = Vec::new();

    // 1a. sailfish test_mms_codec (tshark column).
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-acknowledge.ind",
        ack("BH6WJE2N9CSG1@xma.724.com"),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-delivery_1.ind",
        delivery_bh24(0x81),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-delivery_2.ind",
        e(DELIVERY)
            .tid("xxxxxxxxxxxxxxxxxx")
            .v(1, 0)
            .id("xxxxxxxxxxxxxxxxxxxxxxxx@mmsc4.dna.fi")
            .to("+000000000000/TYPE=PLMN")
            .date(utc(2016, 10, 17, 14, 38, 17))
            .status(0x81)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-notification_1.ind",
        notif_beeline(),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-notification_2.ind",
        e(NOTIF)
            .tid("BH1CFPLK7PMO1@xma.724.com")
            .v(1, 1)
            .from("+358500000000/TYPE=PLMN")
            .msize(89_844)
            .exp_rel(259_198)
            .loc(Txt::Is("http://172.19.24.3:8000/MMSBH1CFPLK7PMO1"))
            .class(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-notification_3.ind",
        notif_ad0b(),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-notification_4.ind",
        e(NOTIF)
            .tid("000_0000000000000000_0")
            .v(1, 0)
            .from("0000000000")
            .msize(839_556)
            .exp_abs(utc(2016, 11, 14, 22, 2, 18))
            .loc(Txt::Prefix(
                "http://tnz-retrieve.sun2.lightsurf.net:80/?msgid=000_0000000",
            ))
            .class(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-notifyresp.ind",
        notifyresp_beeline(),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-read-orig.ind",
        read_orig_bh24(0x80),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-read-rec.ind",
        e(READ_REC)
            .v(1, 1)
            .id("ED4FEEF0-7795-71E3-B973-D485645D138C")
            .insert_address()
            .to("+358500000000/TYPE=PLMN")
            .date(utc(2014, 1, 7, 12, 20, 13))
            .read(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_1.conf",
        e(RETRIEVE)
            .tid("m10l9m7u03mct2jbc12@mms.beeline.ru")
            .v(1, 0)
            .id("m10bdtxic3mct2jbc12@mms.beeline.ru")
            .from("+79050000000/TYPE=PLMN")
            .to("+79650000001/TYPE=PLMN")
            .date(utc(2013, 12, 29, 10, 8, 44))
            .retr(0x80)
            .class(0x81)
            .related_smil()
            .parts(3),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_10.conf",
        e(RETRIEVE)
            .tid("0No1R0GYV0101")
            .v(1, 2)
            .id("0No1R0GYV01")
            .from("01000000000/TYPE=PLMN")
            .date(utc(2015, 1, 27, 0, 32, 32))
            .retr(0x80)
            .class(0x80)
            .related_smil()
            .parts(2),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_2.conf",
        e(RETRIEVE)
            .tid("BGYC4JKHIJB41@xma.724.com")
            .v(1, 1)
            .id("83468B6C-6666-71E3-9FE7-D485645D9364")
            .from("+358500000000/TYPE=PLMN")
            .to("+358449722969/TYPE=PLMN")
            .date(utc(2013, 12, 16, 15, 27, 2))
            .class(0x82)
            .ct(RELATED)
            .param("start", Txt::Is("<0>"))
            .param("type", Txt::Prefix("appli"))
            .parts(5),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_3.conf",
        e(RETRIEVE)
            .tid("0413103657100000000000000")
            .v(1, 2)
            .id("041310365710000000000")
            .from("+436646620958/TYPE=PLMN")
            .to("+436644600167/TYPE=PLMN")
            .date(utc(2014, 4, 13, 10, 36, 57))
            .class(0x80)
            .related_smil()
            .parts(3),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_4.conf",
        e(RETRIEVE)
            .tid("23wE4C01E0DWM00")
            .v(1, 2)
            .id("23wE4C01E0DWM00")
            .from("01234567890")
            .date(utc(2014, 4, 11, 15, 50, 1))
            .retr(0x80)
            .class(0x80)
            .ct(MIXED)
            .parts(1),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_5.conf",
        e(RETRIEVE)
            .v(1, 2)
            .date(utc(2014, 4, 20, 19, 39, 18))
            .retr(0xE2)
            .ct("text/plain")
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_6.conf",
        e(RETRIEVE)
            .tid("U05iZAoFASUAAEZhAAAALgAABYYAAAAB")
            .v(1, 0)
            .id("U05iZAoFASUAAEZhAAAALgAABYYAAAAA")
            .from("+4790000005/TYPE=PLMN")
            .to("+4790000001/TYPE=PLMN")
            .date(utc(2014, 4, 16, 10, 58, 44))
            .class(0x80)
            .ct(RELATED)
            .param("start", Txt::Is("<smil>"))
            .param("type", Txt::Prefix("ap"))
            .parts(3),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_7.conf",
        retrieve_7(),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_8.conf",
        e(RETRIEVE)
            .tid("C10422151301222000000020000")
            .v(1, 1)
            .id("mWnfPyVlg-G-wd-fmJSR01@mms.telenor.se")
            .from("+46711111111/TYPE=PLMN")
            .to("+46733333333/TYPE=PLMN")
            .date(utc(2014, 4, 22, 15, 13, 1))
            .class(0x80)
            .related_smil()
            .parts(3),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-retrieve_9.conf",
        e(RETRIEVE)
            .tid("01vE5CG0U1K9L00")
            .v(1, 2)
            .id("01vE5CG0U1K9L00")
            .from("0444444444")
            .date(utc(2014, 5, 12, 7, 30, 52))
            .retr(0x80)
            .class(0x82)
            .ct(MIXED)
            .parts(1),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_1.conf",
        e(SEND_CONF)
            .tid("UZSWBX")
            .v(1, 1)
            .id("BIR5LJHVQTGK1")
            .resp(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_1.req",
        e(SEND_REQ)
            .tid("c024802b-2ebf-428d-b4d6-a8f991deed44")
            .v(1, 2)
            .insert_address()
            .to("+358444444444/TYPE=PLMN")
            .subject("Fw: another test")
            .ct(RELATED)
            .param("start", Txt::Is("<0>"))
            .param("type", Txt::Prefix("appli"))
            .parts(2),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_2.conf",
        e(SEND_CONF).tid("342").v(1, 1).resp(0x83).parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_2.req",
        // Start=0.smil: PROTOCOLS.md §1.8 (tshark decode of this file).
        e(SEND_REQ)
            .tid("1397291245-0")
            .v(1, 2)
            .insert_address()
            .to("+358500000000/TYPE=PLMN")
            .related_smil()
            .param("start", Txt::Is("0.smil"))
            .parts(2),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_3.conf",
        e(SEND_CONF)
            .tid("268")
            .v(1, 1)
            .id("mis9Y4E1_4UWx4rsttCZ02@mms.beeline.ru")
            .resp(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_mms_codec/m-send_3.req",
        e(SEND_REQ)
            .tid("T14556160e0f")
            .v(1, 2)
            .insert_address()
            .to("+1234567890/TYPE=PLMN")
            .subject_t(Txt::Trimmed("Fwd:"))
            .date(utc(2014, 4, 12, 13, 23, 12))
            .exp_rel(604_800)
            .class(0x80)
            .ct(RELATED)
            .param("start", Txt::Is("<smil>"))
            .param("type", Txt::Prefix("ap"))
            .parts(3),
    ));

    // 1b. test_delivery_ind / test_read_ind.
    t.push((
        "sailfish-mms-engine/test_delivery_ind/DeliveryOK/m-delivery.ind",
        delivery_bh24(0x81),
    ));
    t.push((
        "sailfish-mms-engine/test_delivery_ind/DeliveryRejected/m-delivery.ind",
        delivery_bh24(0x82),
    ));
    t.push((
        "sailfish-mms-engine/test_delivery_ind/DeliveryUnexpected/m-delivery.ind",
        delivery_bh24(0x81),
    ));
    t.push((
        "sailfish-mms-engine/test_read_ind/ReadOK/m-read-orig.ind",
        read_orig_bh24(0x80),
    ));
    t.push((
        "sailfish-mms-engine/test_read_ind/ReadDeleted/m-read-orig.ind",
        read_orig_bh24(0x81),
    ));
    t.push((
        "sailfish-mms-engine/test_read_ind/ReadUnexpected/m-read-orig.ind",
        read_orig_bh24(0x80),
    ));

    // 1c. test_retrieve.
    t.push((
        "sailfish-mms-engine/test_retrieve/Base64/m-acknowledge.ind",
        ack("BQXQLF3OH0101@xma.724.com"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Base64/m-notification.ind",
        notif_bqxq(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Base64/m-retrieve.conf",
        retrieve_bqxq("base64"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Expired1/m-notification.ind",
        notif_bi3(TimeValue::Absolute(0)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Expired2/m-notification.ind",
        notif_bi3(TimeValue::Absolute(0)),
    ));
    not_mms.push("sailfish-mms-engine/test_retrieve/GarbagePush/garbage");
    not_mms.push("sailfish-mms-engine/test_retrieve/GarbageRetrieve/garbage");
    t.push((
        "sailfish-mms-engine/test_retrieve/GarbageRetrieve/m-notification.ind",
        notif_beeline(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/InvalidSubject/m-notification.ind",
        e(NOTIF)
            .tid("9gO0009JS7k0")
            .v(1, 0)
            .from("0033333333333/TYPE=PLMN")
            .msize(210_058)
            .exp_rel(259_198)
            .loc(Txt::Is("http://128.0.0.1:8000/9gO0009JS7k0"))
            .class(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/InvalidSubject/m-retrieve.conf",
        // tshark shows the Subject as "\177=?utf-8?B??=": a Quote octet, then the text.
        e(RETRIEVE)
            .tid("9gO0009JS7k0")
            .v(1, 0)
            .id("040300341792500200448")
            .from("00333333333333/TYPE=PLMN")
            .to("0036666666666/TYPE=PLMN")
            .subject("=?utf-8?B??=")
            .date(utc(2014, 4, 2, 22, 33, 43))
            .class(0x80)
            .ct(RELATED)
            .param("start", Txt::Is("<start>"))
            .param("type", Txt::Prefix("a"))
            .parts(2)
            .part(
                part(MediaE::Is("application/smil"))
                    .cs(US_ASCII)
                    .engine_cid("<start>")
                    .file("smil.smi"),
            )
            .part(
                part(MediaE::Is("image/jpeg"))
                    .cs(None)
                    .engine_cid("<1>")
                    .file("1"),
            ),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/MessageNotFound/m-notification.ind",
        notif_ad0b(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/MessageNotFound/m-retrieve.conf",
        e(RETRIEVE)
            .v(1, 2)
            .date(utc(2014, 4, 20, 19, 39, 18))
            .retr(0xE2)
            .ct("text/plain")
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/NotAllowed/m-notification.ind",
        notif_ad0b(),
    ));
    not_mms.push("sailfish-mms-engine/test_retrieve/NotAllowed/not-allowed.html");
    t.push((
        "sailfish-mms-engine/test_retrieve/NotFound/m-notification.ind",
        notif_bi3(TimeValue::Relative(259_198)),
    ));
    not_mms.push("sailfish-mms-engine/test_retrieve/NotFound/not-found.html");
    t.push((
        "sailfish-mms-engine/test_retrieve/Offline/m-notification.ind",
        notif_bi3(TimeValue::Relative(259_198)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/QuotedPrintable/m-acknowledge.ind",
        ack("BQXQLF3OH0101@xma.724.com"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/QuotedPrintable/m-notification.ind",
        notif_bqxq(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/QuotedPrintable/m-retrieve.conf",
        retrieve_bqxq("quoted-printable"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/SoonExpired/m-notification.ind",
        notif_bi3(TimeValue::Relative(1)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success1/m-acknowledge.ind",
        ack("BI3R4V2ISLR41@xma.724.com"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success1/m-notification.ind",
        notif_bi3(TimeValue::Relative(259_198)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success1/m-retrieve.conf",
        retrieve_bi3()
            .part(
                part(MediaE::Is("application/smil"))
                    .cs(UTF8)
                    .engine_cid("<0>")
                    .file("0.smil"),
            )
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .engine_cid("<text_0011.txt>")
                    .file("text_0011.txt"),
            )
            .part(
                part(MediaE::Is("image/jpeg"))
                    .cs(None)
                    .engine_cid("<131200181.jpg>")
                    .file("131200181.jpg"),
            )
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .engine_cid("<text_0021.txt>")
                    .file("text_0021.txt"),
            )
            .part(
                part(MediaE::Is("image/jpeg"))
                    .cs(None)
                    .engine_cid("<140100041.jpg>")
                    .file("140100041.jpg"),
            ),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success2/m-acknowledge.ind",
        ack("AaamMbG2tpp5lj4Ra"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success2/m-notification.ind",
        notif_aaam(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success2/m-retrieve.conf",
        retrieve_aaam()
            .part(
                part(MediaE::Is("image/jpeg"))
                    .cs(None)
                    .engine_cid("<2014_03_.jpg>")
                    .file("2014_03_.jpg"),
            )
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .engine_cid("<Test_mms.txt>")
                    .file("Test_mms.txt"),
            )
            .part(
                part(MediaE::Is("application/smil"))
                    .cs(UTF8)
                    .engine_cid("<332047400>")
                    .file("332047400"),
            ),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success3/m-acknowledge.ind",
        ack("49955185@mmsc1"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success3/m-notification.ind",
        e(NOTIF)
            .tid("49955185@mmsc1")
            .v(1, 2)
            .from("+358444444444/TYPE=PLMN")
            .msize(125_579)
            .exp_rel(259_200)
            .loc(Txt::Prefix(
                "http://213.161.44.115/mts/?id=49955185&pw=KwFUsSVB55vyjtqkvu",
            ))
            .class(0x80)
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Success3/m-retrieve.conf",
        e(RETRIEVE)
            .tid("49955185@mmsc1")
            .v(1, 2)
            .id("49955185@mmsc1")
            .from("+358444444444/TYPE=PLMN")
            .to("+358466666666/TYPE=PLMN")
            .date(utc(2014, 3, 24, 10, 50, 30))
            .ct(RELATED)
            .param("start", Txt::Is("<0>"))
            .param("type", Txt::Prefix("appli"))
            .parts(3)
            .part(part(MediaE::EndsWith("smil")).engine_cid("<0>").file("0"))
            .part(
                part(MediaE::Is("image/jpeg"))
                    .cs(None)
                    .engine_cid("<1>")
                    .file("1.jpg"),
            )
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .engine_cid("<2>")
                    .file("text_001.txt"),
            ),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/Timeout/m-notification.ind",
        notif_bi3(TimeValue::Relative(1)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve/UnsupportedPush/unsupported",
        notifyresp_beeline(),
    ));

    // 1d. test_retrieve_order, test_retrieve_no_proxy, test_send.
    t.push((
        "sailfish-mms-engine/test_retrieve_no_proxy/m-retrieve.conf",
        retrieve_bi3().same_size_as("sailfish-mms-engine/test_retrieve/Success1/m-retrieve.conf"),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve_order/Order/m-notification1.ind",
        notif_bi3(TimeValue::Relative(259_198)),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve_order/Order/m-notification2.ind",
        notif_aaam(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve_order/Order/m-retrieve1.conf",
        retrieve_bi3(),
    ));
    t.push((
        "sailfish-mms-engine/test_retrieve_order/Order/m-retrieve2.conf",
        retrieve_aaam(),
    ));
    t.push((
        "sailfish-mms-engine/test_send/Accept/m-send.conf",
        send_conf_test(0x80).id("TestMessageId"),
    ));
    t.push((
        "sailfish-mms-engine/test_send/AcceptNoExt/m-send.conf",
        send_conf_test(0x80).id("TestMessageId"),
    ));
    t.push((
        "sailfish-mms-engine/test_send/EmptyMessageID/m-send.conf",
        send_conf_test(0x80),
    ));
    t.push((
        "sailfish-mms-engine/test_send/Failure/m-send.conf",
        send_conf_test(0xE0),
    ));
    t.push((
        "sailfish-mms-engine/test_send/ServiceDenied/m-send.conf",
        e(SEND_CONF)
            .tid("463")
            .v(1, 1)
            .id("021512014610000000005")
            .resp(0xE1)
            .resp_text("Unable to send")
            .parts(0),
    ));
    t.push((
        "sailfish-mms-engine/test_send/UnexpectedResp/m-send.conf",
        retrieve_7(),
    ));
    not_mms.push("sailfish-mms-engine/test_send/UnparsableResp/m-send.conf");

    // 2. mmsd unit/*.mms (Source says + tshark column).
    t.push((
        "mmsd/ni-mms-1-3-con-271.mms",
        e(NOTIF)
            .size(121)
            .tid("OgQKKB")
            .v(1, 0)
            .from("+44123989100/TYPE=PLMN")
            .subject("abcdefghijklmnopqrstuvwxyz0123456789/-+@")
            .class(0x80)
            .msize(23_069)
            .exp_rel(259_200)
            .loc(Txt::Trimmed("http://eps3.de/O/Z9IZO"))
            .parts(0),
    ));
    t.push((
        "mmsd/ni-mms-1-3-con-272.mms",
        e(NOTIF)
            .size(170)
            .tid("OgQKKB")
            .v(1, 0)
            .from("+44123989100/TYPE=PLMN")
            .subject("MMS-1.3-con-272")
            .class(0x80)
            .msize(23_069)
            .exp_rel(259_200)
            .loc(Txt::Shape(
                100,
                "http://abcdefghi/abcdefghi/abcdefghi/abcdefghi/abcdefghi/abc",
                "abcdefghi.mms",
            ))
            .parts(0),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-210.mms",
        e(RETRIEVE)
            .size(2767)
            .tid("00000000210")
            .v(1, 3)
            .from("+33611111111/TYPE=PLMN")
            .to("+33622222222/TYPE=PLMN")
            .subject("MMS-1.3-con-210")
            .date(local(2011, 5, 31, 10, 42, 30, 2))
            .related_smil()
            .parts(2),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-211.mms",
        rc(
            "00000000211",
            544,
            "Shõrt Téxt - ¥üëäÿ",
            local(2011, 6, 3, 16, 1, 31, 2),
        )
        .related_smil()
        .parts(2),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-212.mms",
        // Part: PROTOCOLS.md §5.1 (tshark tree of this file).
        rc(
            "00000000212",
            198,
            "MMS-1.3-con-212",
            local(2011, 6, 3, 11, 45, 21, 2),
        )
        .ct(MIXED)
        .parts(1)
        .part(
            part(MediaE::Is("text/plain"))
                .cs(US_ASCII)
                .cid("<Text_us-ascii.txt>")
                .data(QUICK_FOX),
        ),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-213.mms",
        rc(
            "00000000213",
            249,
            "MMS-1.3-con-213",
            local(2011, 6, 3, 11, 52, 45, 2),
        )
        .ct(MIXED)
        .parts(1)
        .part(part(MediaE::Is("text/plain")).cs(UTF8)),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-214.mms",
        rc(
            "00000000214",
            356,
            "MMS-1.3-con-214",
            local(2011, 6, 3, 14, 41, 16, 2),
        )
        .ct(MIXED)
        .parts(1)
        .part(part(MediaE::Is("text/plain")).cs(UTF16)),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-216.mms",
        // "size 114440" in the README (mmsd's comment) is a typo: the file has 11444 octets
        // and decodes completely, so the size is not checked here.
        rc(
            "00000000216",
            0,
            "MMS-1.3-con-216",
            local(2011, 6, 3, 15, 8, 9, 2),
        )
        .related_smil()
        .parts(2)
        .any_part(part(MediaE::Is("image/jpeg")).magic(b"\xff\xd8\xff")),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-220.mms",
        rc(
            "00000000220",
            4460,
            "MMS-1.3-con-220",
            local(2011, 6, 3, 15, 27, 27, 2),
        )
        .related_smil()
        .parts(2)
        .any_part(part(MediaE::Is("image/gif")).magic(b"GIF87a")),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-224.mms",
        rc(
            "00000000224",
            4265,
            "MMS-1.3-con-224",
            local(2011, 6, 3, 15, 38, 0, 2),
        )
        .related_smil()
        .parts(2)
        .any_part(part(MediaE::Is("image/gif")).magic(b"GIF8")),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-228.mms",
        rc(
            "00000000228",
            2921,
            "MMS-1.3-con-228",
            local(2011, 6, 3, 15, 46, 42, 2),
        )
        .related_smil()
        .parts(2)
        // WBMP type 0, fix header 0, width 160 (uintvar 81 20), height 120 (78).
        .any_part(part(MediaE::Is("image/vnd.wap.wbmp")).magic(b"\x00\x00\x81\x20\x78")),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-271.mms",
        rc(
            "00000000271",
            556,
            "abcdefghijklmnopqrstuvwxyz0123456789/-+@",
            local(2011, 6, 3, 11, 23, 30, 2),
        )
        .related_smil()
        .parts(2),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-281.mms",
        rc(
            "00000000281",
            6250,
            "MMS-1.3-con-281",
            local(2011, 6, 3, 16, 37, 2, 2),
        )
        .app_header("X-MMS-Unrecognised-Header-Field", "Yes")
        .ct(MIXED)
        .parts(2),
    ));
    t.push((
        "mmsd/rc-mms-1-3-con-282.mms",
        rc(
            "00000000282",
            6231,
            "MMS-1.3-con-282",
            local(2011, 6, 3, 16, 25, 7, 2),
        )
        .class_text("NewMessageClass")
        .ct(MIXED)
        .parts(2),
    ));
    t.push((
        "mmsd/sr-mms-mixed.mms",
        e(SEND_REQ)
            .size(90)
            .tid("000000000001")
            .v(1, 0)
            .insert_address()
            .all_to(&["+33612345678/TYPE=PLMN"])
            .ct(MIXED)
            .parts(1)
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .cid("<Generic_Text.txt>")
                    .at(75, 15),
            ),
    ));
    t.push((
        "mmsd/sr-mms-related-multi-to.mms",
        e(SEND_REQ)
            .size(476)
            .tid("000000000002")
            .v(1, 0)
            .insert_address()
            .all_to(&["+33612345678/TYPE=PLMN", "+33612345679/TYPE=PLMN"])
            .related_smil()
            .parts(2)
            .part(
                part(MediaE::Is("application/smil"))
                    .cid("<SMIL>")
                    .at(129, 305),
            )
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(UTF8)
                    .cid("<Generic_Text.txt>")
                    .at(461, 15),
            ),
    ));

    // 2b. mmsd from-test-source.
    t.push((
        "mmsd/from-test-source/mms_m_notify_ind_1.bin",
        e(NOTIF)
            .size(68)
            .tid("OgQKKB")
            .v(1, 0)
            .from("Erotik")
            .subject("Pin-Ups")
            .class(0x80)
            .msize(16_384)
            .exp_rel(259_200)
            .loc(Txt::Is("http://eps3.de/O/Z9IZO"))
            .parts(0),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_notify_ind_2.bin",
        e(NOTIF)
            .size(93)
            .tid("wLJeT7THu")
            .v(1, 0)
            .from("15551230000/TYPE=PLMN")
            .no_subject()
            .class(0x80)
            .msize(23_069)
            .exp_rel(259_200)
            .loc(Txt::Is("http://mmsc11:10021/mmsc/1_1?wLJeT7THu"))
            .parts(0),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_notifyresp_ind_test_1.expected.bin",
        e(NOTIFYRESP)
            .size(24)
            .tid("0123456789abcdef")
            .v(1, 2)
            .status(0x81)
            .parts(0),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_retrieve_conf_1.bin",
        // Part: PROTOCOLS.md §1.9 worked example of this file.
        e(RETRIEVE)
            .size(200)
            .tid("1201657238")
            .v(1, 3)
            .from("+49891000/TYPE=PLMN")
            .subject("MMS-1.3-con-212")
            .id("mt-212")
            .date(local(2008, 1, 30, 2, 40, 38, 1))
            .ct(MIXED)
            .parts(1)
            .part(
                part(MediaE::Is("text/plain"))
                    .cs(US_ASCII)
                    .cid("<Text_us-ascii.txt>")
                    .loc("Text_us-ascii.txt")
                    .data(QUICK_FOX),
            ),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_retrieve_conf_2.bin",
        e(RETRIEVE)
            .size(192)
            .tid("1201657238")
            .v(1, 0)
            .from("+1234567890/TYPE=PLMN")
            .all_to(&[
                "+1111111111/TYPE=PLMN",
                "+2222222222/TYPE=PLMN",
                "+3333333333/TYPE=PLMN",
            ])
            .subject("multito")
            .class(0x80)
            .prio(0x81)
            .date(local(2011, 4, 4, 11, 41, 50, 2))
            .ct(MIXED)
            .parts(1),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_retrieve_conf_3.bin",
        e(RETRIEVE)
            .size(147)
            .no_tid()
            .v(1, 0)
            .from("+1234567890/TYPE=PLMN")
            .all_to(&["+6666666666/TYPE=PLMN"])
            .subject("test without transaction ID")
            .class(0x80)
            .prio(0x81)
            .date(local(2011, 4, 8, 12, 27, 5, 2))
            .ct(MIXED)
            .parts(1),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_send_conf_1.bin",
        e(SEND_CONF)
            .size(28)
            .tid("31887")
            .v(1, 0)
            .resp(0x80)
            .id("4dc268d71438a")
            .parts(0),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_send_conf_2.bin",
        e(SEND_CONF)
            .size(13)
            .tid("31888")
            .v(1, 0)
            .resp(0xE2)
            .no_id()
            .parts(0),
    ));
    t.push((
        "mmsd/from-test-source/mms_m_send_req_test_1.expected.bin",
        e(SEND_REQ)
            .size(45)
            .tid("0123456789abcdef_sr1")
            .v(1, 2)
            .insert_address()
            .all_to(&["0123456789"])
            .dr(0x80)
            .ct(MIXED)
            .parts(0),
    ));
    // WSP Push PDUs (two of them carry an MMS PDU, but are not one).
    not_mms.extend([
        "mmsd/from-test-source/push1.bin",
        "mmsd/from-test-source/push2.bin",
        "mmsd/from-test-source/push3.bin",
        "mmsd/from-test-source/push4.bin",
        "mmsd/from-test-source/push5.bin",
    ]);

    let mut rows: Vec<(&'static str, Row)> = t
        .into_iter()
        .map(|(p, e)| (p, Row::Pdu(Box::new(e))))
        .collect();
    rows.extend(not_mms.into_iter().map(|p| (p, Row::NotMms)));
    rows
}

/// Files that are not PDUs at all: the README, MM7 SOAP samples, expected part contents.
fn is_auxiliary(rel: &str) -> bool {
    rel == "README.md" || rel.starts_with("mm7-instantcom/") || rel.contains("/parts/")
}

fn decode_no_panic(b: &[u8]) -> Result<Result<Pdu<'_>, mmsc_wire::DecodeError>, String> {
    catch_unwind(AssertUnwindSafe(|| Pdu::decode(b, &Limits::default()))).map_err(|p| {
        match p.downcast_ref::<&str>() {
            Some(s) => (*s).to_string(),
            None => p
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".into()),
        }
    })
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let body: Vec<u8> = clean.iter().copied().take_while(|&c| c != b'=').collect();
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in body {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn qp_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s.get(i..) {
            Some([b'=', b'\r', b'\n', ..]) => i += 3,
            Some([b'=', b'\n', ..]) => i += 2,
            Some([b'=', a, b, ..]) => {
                out.push((hex(*a)? * 16 + hex(*b)?) as u8);
                i += 3;
            }
            Some([b'=', ..]) => return None,
            Some([c, ..]) => {
                out.push(*c);
                i += 1;
            }
            _ => break,
        }
    }
    Some(out)
}

fn media_name(ct: &ContentType<'_>) -> String {
    ct.media.name().into_owned()
}

fn check_part(
    i: usize,
    got: &Part<'_>,
    want: &PartE,
    pdu: &[u8],
    dir: &Path,
    err: &mut dyn FnMut(String),
) {
    let m = media_name(&got.content_type);
    let ok = match want.media {
        MediaE::Is(s) => m.eq_ignore_ascii_case(s),
        MediaE::EndsWith(s) => m.to_ascii_lowercase().ends_with(s),
    };
    if !ok {
        err(format!(
            "part {i}: content type {m:?}, README {:?}",
            want.media
        ));
    }
    if let Some(cs) = want.charset
        && got.content_type.charset() != cs
    {
        err(format!(
            "part {i}: charset {:?}, README {cs:?}",
            got.content_type.charset()
        ));
    }
    if let Some(cid) = want.content_id {
        let id = match (got.content_id(), got.content_location()) {
            (Some(id), _) => Some(id.to_vec()),
            (None, Some(loc)) if want.engine_id => {
                // mms-engine names the part's file after its Content-Location without
                // '<', '>', '[', ']' and with '/' and '\\' as '_', and uses "<file>".
                let mut v = vec![b'<'];
                v.extend(
                    loc.iter()
                        .filter(|c| !b"<>[]".contains(c))
                        .map(|&c| if c == b'/' || c == b'\\' { b'_' } else { c }),
                );
                v.push(b'>');
                Some(v)
            }
            (None, _) => None,
        };
        if id.as_deref() != Some(cid.as_bytes()) {
            err(format!(
                "part {i}: Content-ID {:?} (Content-Location {:?}), README {cid:?}",
                got.content_id().map(String::from_utf8_lossy),
                got.content_location().map(String::from_utf8_lossy)
            ));
        }
    }
    if let Some(loc) = want.content_location
        && got.content_location() != Some(loc.as_bytes())
    {
        err(format!(
            "part {i}: Content-Location {:?}, README {loc:?}",
            got.content_location().map(String::from_utf8_lossy)
        ));
    }
    let Some(data) = got.data() else {
        err(format!("part {i}: no data (nested multipart?)"));
        return;
    };
    if let Some(f) = want.file {
        match std::fs::read(dir.join("parts").join(f)) {
            Ok(b) if b == data => {}
            Ok(b) => err(format!(
                "part {i}: {} data octets differ from parts/{f} ({} octets)",
                data.len(),
                b.len()
            )),
            Err(e) => err(format!("parts/{f}: {e}")),
        }
    }
    if let Some(d) = want.data
        && data != d
    {
        err(format!(
            "part {i}: data {:?}, README {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(d)
        ));
    }
    if let Some(m) = want.magic
        && !data.starts_with(m)
    {
        err(format!("part {i}: data does not start with {m:?}"));
    }
    if let Some((off, len)) = want.at {
        let start = (data.as_ptr() as usize).wrapping_sub(pdu.as_ptr() as usize);
        if (start, data.len()) != (off, len) {
            err(format!(
                "part {i}: data at offset {start} length {}, README offset {off} length {len}",
                data.len()
            ));
        }
    }
    if let Some((cte, decoded_file)) = want.transfer {
        let header = got.headers.iter().find_map(|h| match h {
            PartHeader::Text { name, value }
                if name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") =>
            {
                Some(value.clone())
            }
            _ => None,
        });
        if !header
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(cte.as_bytes()))
        {
            err(format!(
                "part {i}: Content-Transfer-Encoding {:?}, README {cte:?}",
                header.as_deref().map(String::from_utf8_lossy)
            ));
        }
        let decoded = match cte {
            "base64" => base64_decode(data),
            _ => qp_decode(data),
        };
        match (decoded, std::fs::read(dir.join("parts").join(decoded_file))) {
            (Some(d), Ok(f)) if d == f => {}
            (d, f) => err(format!(
                "part {i}: {cte}-decoded data {:?} != parts/{decoded_file} {:?}",
                d.map(|d| String::from_utf8_lossy(&d).into_owned()),
                f.map(|f| String::from_utf8_lossy(&f).into_owned())
            )),
        }
    }
}

fn octet(p: &Pdu<'_>, code: u8) -> Option<u8> {
    match p.get(code) {
        Some(Value::Octet(o)) => Some(*o),
        _ => None,
    }
}

fn show(b: Option<&[u8]>) -> Option<Cow<'_, str>> {
    b.map(String::from_utf8_lossy)
}

fn check_pdu(rel: &str, bytes: &[u8], p: &Pdu<'_>, x: &E, root: &Path, errors: &mut Vec<String>) {
    let mut err = |s: String| errors.push(format!("{rel}: {s}"));
    if p.message_type != MessageType(x.mt) {
        err(format!(
            "message type {:?}, README 0x{:02X}",
            p.message_type, x.mt
        ));
    }
    if let Some(n) = x.size
        && bytes.len() != n
    {
        err(format!("{} octets, README {n}", bytes.len()));
    }
    if let Some(other) = x.same_size_as {
        let n = std::fs::metadata(root.join(other)).map(|m| m.len() as usize);
        if n.as_ref().ok() != Some(&bytes.len()) {
            err(format!("{} octets, {other} has {n:?}", bytes.len()));
        }
    }
    match x.tid {
        Check::Unchecked => {}
        Check::Absent if p.transaction_id().is_some() => err(format!(
            "Transaction-ID {:?}, README: none",
            show(p.transaction_id())
        )),
        Check::Is(t) if p.transaction_id() != Some(t.as_bytes()) => err(format!(
            "Transaction-ID {:?}, README {t:?}",
            show(p.transaction_id())
        )),
        _ => {}
    }
    if let Some((maj, min)) = x.version {
        let v = p.version();
        if v.map(|v| (v.major(), v.minor())) != Some((maj, Some(min))) {
            err(format!("MMS version {v:?}, README {maj}.{min}"));
        }
    }
    match x.msg_id {
        Check::Unchecked => {}
        Check::Absent if p.message_id().is_some() => err(format!(
            "Message-ID {:?}, README: none",
            show(p.message_id())
        )),
        Check::Is(t) if p.message_id() != Some(t.as_bytes()) => err(format!(
            "Message-ID {:?}, README {t:?}",
            show(p.message_id())
        )),
        _ => {}
    }
    match (x.from, p.from()) {
        (None, _) | (Some(FromE::Insert), Some(None)) => {}
        (Some(FromE::Addr(a)), Some(Some(e))) if e.text.as_ref() == a.as_bytes() => {}
        (Some(w), got) => err(format!("From {got:?}, README {w:?}")),
    }
    let to: Vec<&[u8]> = p.recipients(field::TO).map(|e| e.text.as_ref()).collect();
    match &x.to {
        None => {}
        Some(ToE::First(a)) if to.first() != Some(&a.as_bytes()) => {
            err(format!(
                "first To {:?}, README {a:?}",
                to.first().map(|t| String::from_utf8_lossy(t))
            ));
        }
        Some(ToE::First(_)) => {}
        Some(ToE::All(all)) => {
            let want: Vec<&[u8]> = all.iter().map(|a| a.as_bytes()).collect();
            if to != want {
                err(format!(
                    "To {:?}, README {all:?}",
                    to.iter()
                        .map(|t| String::from_utf8_lossy(t))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    match x.subject {
        Check::Unchecked => {}
        Check::Absent => {
            if p.subject().is_some() {
                err(format!("Subject {:?}, README: none", p.subject()));
            }
        }
        Check::Is(t) => {
            let text = p.subject().and_then(|s| s.to_text());
            if !text.as_deref().is_some_and(|s| t.matches(s.as_bytes())) {
                err(format!(
                    "Subject {text:?} ({:?}), README {t:?}",
                    p.subject()
                ));
            }
        }
    }
    if let Some(d) = x.date
        && p.date() != Some(d)
    {
        err(format!("Date {:?}, README {d}", p.date()));
    }
    for (what, code, want) in [
        ("X-Mms-Status", field::STATUS, x.status),
        (
            "X-Mms-Response-Status",
            field::RESPONSE_STATUS,
            x.response_status,
        ),
        (
            "X-Mms-Retrieve-Status",
            field::RETRIEVE_STATUS,
            x.retrieve_status,
        ),
        ("X-Mms-Read-Status", field::READ_STATUS, x.read_status),
        ("X-Mms-Priority", field::PRIORITY, x.priority),
        (
            "X-Mms-Delivery-Report",
            field::DELIVERY_REPORT,
            x.delivery_report,
        ),
    ] {
        if let Some(w) = want
            && octet(p, code) != Some(w)
        {
            err(format!("{what} {:?}, README 0x{w:02X}", octet(p, code)));
        }
    }
    if let Some(t) = x.response_text {
        let got = match p.get(field::RESPONSE_TEXT) {
            Some(Value::Encoded(e)) => e.to_text().map(Cow::into_owned),
            _ => None,
        };
        if got.as_deref() != Some(t) {
            err(format!("X-Mms-Response-Text {got:?}, README {t:?}"));
        }
    }
    match (x.class, p.get(field::MESSAGE_CLASS)) {
        (None, _) => {}
        (Some(ClassE::Octet(o)), Some(Value::Octet(g))) if o == *g => {}
        (Some(ClassE::Text(t)), Some(Value::Text(g))) if g.as_ref() == t.as_bytes() => {}
        (Some(w), got) => err(format!("X-Mms-Message-Class {got:?}, README {w:?}")),
    }
    if let Some(n) = x.msg_size
        && p.message_size() != Some(n)
    {
        err(format!(
            "X-Mms-Message-Size {:?}, README {n}",
            p.message_size()
        ));
    }
    if let Some(t) = x.expiry
        && p.expiry() != Some(t)
    {
        err(format!("X-Mms-Expiry {:?}, README {t:?}", p.expiry()));
    }
    if let Some(t) = x.location
        && !p.content_location().is_some_and(|l| t.matches(l))
    {
        err(format!(
            "X-Mms-Content-Location {:?}, README {t:?}",
            show(p.content_location())
        ));
    }
    if let Some(m) = x.media {
        match &p.content_type {
            Some(ct) if media_name(ct).eq_ignore_ascii_case(m) => {
                for (name, t) in &x.params {
                    let v = ct.param(name).map(|p| p.value_text().into_owned());
                    if !v.as_deref().is_some_and(|v| t.matches(v.as_bytes())) {
                        err(format!(
                            "Content-Type parameter {name} {v:?}, README {t:?} (in {ct})"
                        ));
                    }
                }
            }
            other => err(format!("Content-Type {other:?}, README {m}")),
        }
    }
    if let Some(n) = x.parts
        && p.parts().len() != n
    {
        err(format!("{} parts, README {n}", p.parts().len()));
    }
    let dir = root.join(rel);
    let dir = dir.parent().unwrap_or(root);
    for (i, want) in x.part_list.iter().enumerate() {
        match p.parts().get(i) {
            Some(got) => check_part(i, got, want, bytes, dir, &mut err),
            None => err(format!("part {i} missing")),
        }
    }
    for (j, want) in x.any_part.iter().enumerate() {
        let fits = p.parts().iter().enumerate().any(|(i, got)| {
            let mut e = Vec::new();
            check_part(i, got, want, bytes, dir, &mut |s| e.push(s));
            e.is_empty()
        });
        if !fits {
            err(format!("no part is {want:?} (README expectation {j})"));
        }
    }
    if let Some((n, v)) = x.app_header {
        let found = p.headers.iter().any(|h| {
            matches!(&h.name, mmsc_wire::mms::HeaderName::Application(name)
                if name.as_ref() == n.as_bytes())
                && h.value == Value::Text(Cow::Borrowed(v.as_bytes()))
        });
        if !found {
            err(format!("application header {n}: {v} not kept"));
        }
    }
}

/// The spec name of an enumerated octet, if known.
type NameOf = fn(u8) -> Option<&'static str>;

/// Text of a JSON header value: a string, or the "text" of a charset object.
fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("text").and_then(|t| t.as_str()).map(str::to_string),
        _ => None,
    }
}

/// The same README expectations, read from the JSON form that `mmsc pdu decode --json`
/// prints (keys as OMA-TS-MMS_ENC spells the headers, enumerations by their spec names).
fn check_json(rel: &str, j: &serde_json::Value, x: &E, errors: &mut Vec<String>) {
    use mmsc_wire::mms::{MessageClass, ReadStatus, ResponseStatus, RetrieveStatus, Status};
    let mut err = |s: String| errors.push(format!("{rel}: JSON: {s}"));
    let key = |k: &str| j.get(k);
    let name_or_num = |name: Option<&str>, o: u8| match name {
        Some(n) => serde_json::Value::from(n),
        None => serde_json::Value::from(o),
    };
    if key("X-Mms-Message-Type") != Some(&name_or_num(MessageType(x.mt).name(), x.mt)) {
        err(format!(
            "X-Mms-Message-Type {:?}",
            key("X-Mms-Message-Type")
        ));
    }
    let text = |k: &str| key(k).and_then(json_text);
    match x.tid {
        Check::Is(t) if text("X-Mms-Transaction-ID").as_deref() != Some(t) => err(format!(
            "X-Mms-Transaction-ID {:?}, README {t:?}",
            text("X-Mms-Transaction-ID")
        )),
        Check::Absent if key("X-Mms-Transaction-ID").is_some() => {
            err("X-Mms-Transaction-ID present, README: none".into())
        }
        _ => {}
    }
    if let Some((maj, min)) = x.version {
        let want = format!("{maj}.{min}");
        if text("X-Mms-MMS-Version").as_deref() != Some(want.as_str()) {
            err(format!(
                "X-Mms-MMS-Version {:?}, README {want}",
                text("X-Mms-MMS-Version")
            ));
        }
    }
    if let Check::Is(m) = x.msg_id
        && text("Message-ID").as_deref() != Some(m)
    {
        err(format!("Message-ID {:?}, README {m:?}", text("Message-ID")));
    }
    match x.from {
        Some(FromE::Insert)
            if key("From") != Some(&serde_json::json!({"insert-address": true})) =>
        {
            err(format!("From {:?}, README insert-address", key("From")))
        }
        Some(FromE::Addr(a)) if text("From").as_deref() != Some(a) => {
            err(format!("From {:?}, README {a:?}", text("From")))
        }
        _ => {}
    }
    let tos: Vec<String> = key("To")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(json_text).collect())
        .unwrap_or_default();
    match &x.to {
        Some(ToE::First(a)) if tos.first().map(String::as_str) != Some(*a) => {
            err(format!("To {tos:?}, README first {a:?}"))
        }
        Some(ToE::All(all)) if tos.iter().map(String::as_str).collect::<Vec<_>>() != *all => {
            err(format!("To {tos:?}, README {all:?}"))
        }
        _ => {}
    }
    if let Check::Is(t) = x.subject
        && !text("Subject").is_some_and(|s| t.matches(s.as_bytes()))
    {
        err(format!("Subject {:?}, README {t:?}", text("Subject")));
    }
    if let Some(d) = x.date {
        let want = mmsc_wire::json::format_date(d);
        if text("Date") != want {
            err(format!("Date {:?}, README {want:?}", text("Date")));
        }
    }
    let enums: [(&str, Option<u8>, NameOf); 4] = [
        ("X-Mms-Status", x.status, |o| Status(o).name()),
        ("X-Mms-Response-Status", x.response_status, |o| {
            ResponseStatus(o).name()
        }),
        ("X-Mms-Retrieve-Status", x.retrieve_status, |o| {
            RetrieveStatus(o).name()
        }),
        ("X-Mms-Read-Status", x.read_status, |o| ReadStatus(o).name()),
    ];
    for (k, want, name) in enums {
        if let Some(o) = want
            && key(k) != Some(&name_or_num(name(o), o))
        {
            err(format!("{k} {:?}, README 0x{o:02X}", key(k)));
        }
    }
    match x.class {
        Some(ClassE::Octet(o))
            if key("X-Mms-Message-Class") != Some(&name_or_num(MessageClass(o).name(), o)) =>
        {
            err(format!(
                "X-Mms-Message-Class {:?}",
                key("X-Mms-Message-Class")
            ))
        }
        Some(ClassE::Text(t)) if text("X-Mms-Message-Class").as_deref() != Some(t) => err(format!(
            "X-Mms-Message-Class {:?}, README {t:?}",
            key("X-Mms-Message-Class")
        )),
        _ => {}
    }
    if let Some(n) = x.msg_size
        && key("X-Mms-Message-Size").and_then(|v| v.as_u64()) != Some(n)
    {
        err(format!(
            "X-Mms-Message-Size {:?}, README {n}",
            key("X-Mms-Message-Size")
        ));
    }
    if let Some(t) = x.expiry {
        let want = match t {
            TimeValue::Relative(s) => serde_json::json!({ "relative": s }),
            TimeValue::Absolute(s) => serde_json::json!({
                "absolute": mmsc_wire::json::format_date(s).map_or(serde_json::Value::from(s), serde_json::Value::from)
            }),
        };
        if key("X-Mms-Expiry") != Some(&want) {
            err(format!(
                "X-Mms-Expiry {:?}, README {want}",
                key("X-Mms-Expiry")
            ));
        }
    }
    if let Some(t) = x.location
        && !text("X-Mms-Content-Location").is_some_and(|s| t.matches(s.as_bytes()))
    {
        err(format!(
            "X-Mms-Content-Location {:?}, README {t:?}",
            text("X-Mms-Content-Location")
        ));
    }
    if let Some(m) = x.media
        && !text("Content-Type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with(&m.to_ascii_lowercase()))
    {
        err(format!(
            "Content-Type {:?}, README {m:?}",
            text("Content-Type")
        ));
    }
    if let Some(n) = x.parts {
        let got = key("parts").and_then(|p| p.as_array()).map_or(0, Vec::len);
        if got != n {
            err(format!("{got} parts, README {n}"));
        }
    }
}

#[test]
fn every_vector_decodes_as_the_readme_says() {
    let Some(root) = vectors_dir() else {
        println!(
            "SKIP: shared vectors not found (set MMSC_VECTORS, or put them at \
             <workspace>/../shared/vectors)"
        );
        return;
    };
    let table = table();
    let files = files_under(&root, 10_000).expect("list vectors");
    let rel_of = |f: &Path| {
        f.strip_prefix(&root)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default()
    };
    let on_disk: BTreeSet<String> = files.iter().map(|f| rel_of(f)).collect();
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (rel, _) in &table {
        if !seen.insert(*rel) {
            errors.push(format!("{rel}: listed twice in the table"));
        }
        if !on_disk.contains(*rel) {
            errors.push(format!("{rel}: in the table but not in {root:?}"));
        }
    }
    let (mut pdus, mut refused, mut aux) = (0, 0, 0);
    for f in &files {
        let rel = rel_of(f);
        let bytes = std::fs::read(f).expect("read vector");
        let row = table.iter().find(|(r, _)| *r == rel).map(|(_, row)| row);
        let decoded = match decode_no_panic(&bytes) {
            Ok(d) => d,
            Err(msg) => {
                errors.push(format!("{rel}: decoder panicked: {msg}"));
                continue;
            }
        };
        match (row, decoded) {
            (Some(Row::Pdu(x)), Ok(p)) => {
                pdus += 1;
                check_pdu(&rel, &bytes, &p, x, &root, &mut errors);
                check_json(&rel, &mmsc_wire::json::to_json(&p), x, &mut errors);
                match p.encode() {
                    Ok(enc) => match Pdu::decode(&enc, &Limits::default()) {
                        Ok(back) if back == p => {}
                        Ok(back) => errors.push(format!(
                            "{rel}: decode(encode(p)) != p:\n  p    = {p:?}\n  back = {back:?}"
                        )),
                        Err(e) => errors.push(format!("{rel}: re-encoding does not decode: {e}")),
                    },
                    Err(e) => errors.push(format!("{rel}: does not re-encode: {e}")),
                }
            }
            (Some(Row::Pdu(_)), Err(e)) => errors.push(format!(
                "{rel}: README says it is an MMS PDU, decode failed: {e}"
            )),
            (Some(Row::NotMms), Err(_)) => refused += 1,
            (Some(Row::NotMms), Ok(p)) => errors.push(format!(
                "{rel}: not an MMS PDU, but decoded as {:?}",
                p.message_type
            )),
            (None, r) if is_auxiliary(&rel) => {
                aux += 1;
                if let Ok(p) = r {
                    errors.push(format!(
                        "{rel}: not a PDU, but decoded as {:?}",
                        p.message_type
                    ));
                }
            }
            (None, _) => errors.push(format!(
                "{rel}: no expectation in the table: add what vectors/README.md says about it"
            )),
        }
    }
    assert!(
        errors.is_empty(),
        "{} disagreement(s) with vectors/README.md:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(
        pdus >= 90 && refused >= 10,
        "too few vectors: {pdus} PDUs, {refused} non-MMS"
    );
    println!(
        "{pdus} PDUs as the README says, {refused} non-MMS refused, {aux} other files refused"
    );
}

/// Every truncation (and a few corruptions) of every vector: an error or a PDU, never a panic.
#[test]
fn no_truncation_or_corruption_of_a_vector_panics() {
    let Some(root) = vectors_dir() else {
        println!("SKIP: shared vectors not found (set MMSC_VECTORS)");
        return;
    };
    let files = files_under(&root, 10_000).expect("list vectors");
    let mut panics = Vec::new();
    let mut tries = 0usize;
    for f in files {
        let bytes = std::fs::read(&f).expect("read vector");
        if decode_no_panic(&bytes).map(|r| r.is_err()).unwrap_or(false) {
            continue;
        }
        // At most ~600 cut points per file, all of them for small files.
        let step = (bytes.len() / 600).max(1);
        let mut cuts: Vec<usize> = (0..bytes.len()).step_by(step).collect();
        cuts.extend(bytes.len().saturating_sub(64)..bytes.len());
        for n in cuts {
            tries += 1;
            if let Err(m) = decode_no_panic(&bytes[..n]) {
                panics.push(format!("{}[..{n}]: {m}", f.display()));
            }
        }
        // Set each of the first 256 octets to 0x00, 0x1F, 0x7F, 0xFF.
        let mut copy = bytes.clone();
        for i in 0..bytes.len().min(256) {
            for b in [0x00, 0x1F, 0x7F, 0xFF] {
                tries += 1;
                copy[i] = b;
                if let Err(m) = decode_no_panic(&copy) {
                    panics.push(format!("{} octet {i} = {b:#04x}: {m}", f.display()));
                }
            }
            copy[i] = bytes[i];
        }
    }
    assert!(
        panics.is_empty(),
        "decoder panicked:\n{}",
        panics.join("\n")
    );
    println!("{tries} damaged inputs, no panic");
}

/// mmsd's encoder expectations: our canonical encoding of the same headers is byte-identical.
#[test]
fn encoder_reproduces_mmsd_expected_bytes() {
    let Some(root) = vectors_dir() else {
        println!("SKIP: shared vectors not found (set MMSC_VECTORS)");
        return;
    };
    let dir = root.join("mmsd/from-test-source");
    let text = |s: &'static str| Value::Text(Cow::Borrowed(s.as_bytes()));

    // notifyresp-ind, TID 0123456789abcdef, version 1.2, status Retrieved -> 24 bytes.
    let p = Pdu::new(MessageType::NOTIFYRESP_IND)
        .with(field::TRANSACTION_ID, text("0123456789abcdef"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::STATUS, Value::Octet(0x81));
    let want = std::fs::read(dir.join("mms_m_notifyresp_ind_test_1.expected.bin")).expect("read");
    assert_eq!(p.encode().expect("encode"), want);

    // send-req headers only: TID 0123456789abcdef_sr1, v1.2, From insert-address, To
    // 0123456789, Delivery-Report Yes, Content-Type multipart.mixed -> 45 bytes.
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(field::TRANSACTION_ID, text("0123456789abcdef_sr1"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::FROM, Value::From(None))
        .with(
            field::TO,
            Value::Encoded(mmsc_wire::mms::EncodedString::plain(&b"0123456789"[..])),
        )
        .with(field::DELIVERY_REPORT, Value::Octet(0x80));
    p.content_type = Some(ContentType::new(MediaType::WellKnown(0x23)));
    let mut out = Vec::new();
    p.encode_headers_into(&mut out).expect("encode headers");
    let want = std::fs::read(dir.join("mms_m_send_req_test_1.expected.bin")).expect("read");
    assert_eq!(out, want);
}
