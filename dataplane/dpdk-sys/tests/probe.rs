//! Links against the system's DPDK, initialises the EAL without hugepages or PCI devices and
//! checks that the drivers are loaded: `--vdev=net_null0` probes into an ethdev port, a
//! pktmbuf pool can be created (the ring mempool handler is a plugin too), and the shim's
//! bursts move packets. One test: the EAL initialises once per process.

use std::ffi::{CString, c_char, c_int};
use std::ptr;

use dpdk_sys as sys;

#[test]
fn eal_probes_net_null_and_bursts_through_the_shim() {
    let args = [
        "dpdk-sys-probe",
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-m",
        "64",
        "-l",
        "0",
        "--log-level=lib.eal:warning",
        "--vdev=net_null0",
    ];
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr().cast_mut()).collect();
    let argc = c_int::try_from(argv.len()).unwrap();
    // SAFETY: argv holds argc valid NUL-terminated strings that outlive the call; this is the
    // only EAL initialisation of this test process.
    let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    // SAFETY: plain read of the calling thread's rte_errno.
    let errno = unsafe { sys::mmsc_rte_errno() };
    assert!(ret >= 0, "rte_eal_init failed: {ret}, rte_errno {errno}");

    // SAFETY: the EAL is initialised.
    let ports = unsafe { sys::rte_eth_dev_count_avail() };
    assert_eq!(
        ports, 1,
        "net_null0 did not probe (PMD plugins not loaded?)"
    );
    let mut port: u16 = u16::MAX;
    let name = CString::new("net_null0").unwrap();
    // SAFETY: name is a valid C string, port a valid out pointer.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut port) };
    assert_eq!(ret, 0);

    let pool_name = CString::new("probe_pool").unwrap();
    // SAFETY: valid name; sizes within DPDK's limits.
    let pool = unsafe {
        sys::rte_pktmbuf_pool_create(
            pool_name.as_ptr(),
            1023,
            32,
            0,
            sys::mmsc_rte_mbuf_default_buf_size(),
            sys::SOCKET_ID_ANY,
        )
    };
    assert!(!pool.is_null(), "rte_pktmbuf_pool_create: rte_errno {}", {
        // SAFETY: plain read of the calling thread's rte_errno.
        unsafe { sys::mmsc_rte_errno() }
    });

    let conf = sys::rte_eth_conf::default();
    // SAFETY: a valid port id and configuration; the port is not started.
    unsafe {
        assert_eq!(sys::rte_eth_dev_configure(port, 1, 1, &conf), 0);
        assert_eq!(
            sys::rte_eth_rx_queue_setup(port, 0, 128, 0, ptr::null(), pool),
            0
        );
        assert_eq!(sys::rte_eth_tx_queue_setup(port, 0, 128, 0, ptr::null()), 0);
        assert_eq!(sys::rte_eth_dev_start(port), 0);
    }

    let mut mbufs = [ptr::null_mut::<sys::rte_mbuf>(); 8];
    // SAFETY: the pool is valid; mbufs has room for 8 pointers.
    let ret = unsafe { sys::mmsc_rte_pktmbuf_alloc_bulk(pool, mbufs.as_mut_ptr(), 8) };
    assert_eq!(ret, 0);
    for &m in &mbufs {
        // SAFETY: m is a freshly allocated mbuf with the default data room.
        let data = unsafe { sys::mmsc_rte_pktmbuf_append(m, 60) };
        assert!(!data.is_null());
        // SAFETY: as above.
        assert_eq!(unsafe { sys::mmsc_rte_pktmbuf_data_len(m) }, 60);
    }
    // SAFETY: queue 0 of a started port, used by this thread only; the driver takes the
    // mbufs it accepts.
    let sent = unsafe { sys::mmsc_rte_eth_tx_burst(port, 0, mbufs.as_mut_ptr(), 8) };
    assert_eq!(sent, 8);

    // net_null's rx returns packets of its packet_size (64 bytes) allocated from the pool.
    // SAFETY: as above; the received mbufs are ours to free.
    let got = unsafe { sys::mmsc_rte_eth_rx_burst(port, 0, mbufs.as_mut_ptr(), 8) };
    assert!(got > 0);
    // SAFETY: the first `got` entries are mbufs we own.
    unsafe { sys::rte_pktmbuf_free_bulk(mbufs.as_mut_ptr(), u32::from(got)) };

    let mut stats = sys::rte_eth_stats::default();
    // SAFETY: a valid port and out pointer.
    assert_eq!(unsafe { sys::rte_eth_stats_get(port, &mut stats) }, 0);
    assert_eq!(stats.opackets, 8);

    // SAFETY: no mbuf or queue of this port is used afterwards; then no DPDK call follows the
    // cleanup.
    unsafe {
        assert_eq!(sys::rte_eth_dev_stop(port), 0);
        assert_eq!(sys::rte_eth_dev_close(port), 0);
        sys::rte_mempool_free(pool);
        assert_eq!(sys::rte_eal_cleanup(), 0);
    }
}
