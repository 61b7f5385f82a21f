//! The EAL: DPDK's environment, initialised once per process.

use std::any::Any;
use std::ffi::{CString, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use dpdk_sys as sys;

use crate::error::{Errno, Error};

/// `rte_eal_init` has not run in this process.
const UNINIT: u8 = 0;
/// An [`Eal`] exists (or `rte_eal_init` is running).
const RUNNING: u8 = 1;
/// The EAL was cleaned up; DPDK cannot be initialised again in this process.
const DONE: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// The initialised DPDK environment (EAL) of this process; `rte_eal_cleanup` on drop.
///
/// Mempools and ports borrow it, so they are gone before the cleanup. The thread that calls
/// [`Eal::init`] becomes the main lcore (DPDK pins it to that lcore's CPU); `Eal` stays on it
/// (`!Send`) and is shared with other threads by reference (`Sync`).
#[derive(Debug)]
pub struct Eal {
    /// `!Send`: rte_eal_cleanup runs on the thread that initialised the EAL.
    _main_thread: PhantomData<*const ()>,
}

// SAFETY: every `&self` method of Eal calls DPDK functions that only read the EAL's
// configuration (lcore and port tables, set up by rte_eal_init) or check the calling thread
// first; DPDK allows them from any thread.
unsafe impl Sync for Eal {}

impl Eal {
    /// Initialises DPDK with these EAL arguments (without a program name: `"mmsc"` is
    /// prepended as `argv[0]`), e.g. `["--no-huge", "--no-pci",
    /// "--vdev=net_af_packet0,iface=veth1", "-l", "0-1"]`.
    ///
    /// Once per process: a second call, even after the first `Eal` was dropped, is
    /// [`Error::AlreadyInitialised`]. Drivers (PMDs) are loaded from [`crate::pmd_path`] and
    /// from any `-d` argument. Every argument must be an EAL option: anything left unparsed is
    /// an error.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, Error> {
        let mut argv_owned = Vec::with_capacity(args.len() + 1);
        argv_owned.push(c"mmsc".to_owned());
        for arg in args {
            let arg = arg.as_ref();
            let c = CString::new(arg).map_err(|_| {
                Error::InvalidArgument(format!("EAL argument {arg:?} contains a NUL byte"))
            })?;
            argv_owned.push(c);
        }
        let argc = c_int::try_from(argv_owned.len())
            .map_err(|_| Error::InvalidArgument("too many EAL arguments".to_owned()))?;

        if STATE
            .compare_exchange(UNINIT, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::AlreadyInitialised);
        }
        // DPDK may keep pointers into argv (and getopt permutes the array): both the strings
        // and the array live for the rest of the process, a few bytes once per process.
        let strings: &'static [CString] = Vec::leak(argv_owned);
        let argv: &'static mut [*mut c_char] =
            Vec::leak(strings.iter().map(|s| s.as_ptr().cast_mut()).collect());

        // SAFETY: argv holds argc pointers to NUL-terminated strings that are never freed;
        // STATE guarantees this is the only call of rte_eal_init this wrapper makes.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let errno = Errno::last();
            if errno.0 == libc_errno::EALREADY {
                STATE.store(DONE, Ordering::Release);
                return Err(Error::AlreadyInitialised);
            }
            // DPDK lets rte_eal_init run again after some failures (bad arguments); it
            // answers EALREADY itself when it cannot.
            STATE.store(UNINIT, Ordering::Release);
            return Err(Error::dpdk("rte_eal_init", errno));
        }
        let eal = Eal {
            _main_thread: PhantomData,
        };
        let parsed = usize::try_from(ret).unwrap_or(0);
        if parsed != args.len() {
            let rest: Vec<&str> = args.iter().skip(parsed).map(AsRef::as_ref).collect();
            // Dropping `eal` cleans up: the caller gets the error, not a half-configured EAL.
            drop(eal);
            return Err(Error::InvalidArgument(format!(
                "not EAL options: {}",
                rest.join(" ")
            )));
        }
        Ok(eal)
    }

    /// The enabled lcores (the `-l` / `--lcores` set), in increasing order.
    pub fn lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        // rte_get_next_lcore(-1, ...) starts the iteration, as RTE_LCORE_FOREACH does.
        let mut i = u32::MAX;
        loop {
            // SAFETY: reads the EAL's lcore table, set up by rte_eal_init.
            i = unsafe { sys::rte_get_next_lcore(i, 0, 0) };
            if i >= sys::RTE_MAX_LCORE {
                break;
            }
            lcores.push(i);
        }
        lcores
    }

    /// How many lcores are enabled.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: reads the EAL's configuration.
        unsafe { sys::rte_lcore_count() }
    }

    /// The main lcore: the thread that ran [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: reads the EAL's configuration.
        unsafe { sys::rte_get_main_lcore() }
    }

    /// The calling thread's lcore id, `None` for a thread the EAL does not know.
    pub fn current_lcore() -> Option<u32> {
        // SAFETY: reads a thread-local variable of the EAL (LCORE_ID_ANY when unset).
        let id = unsafe { sys::mmsc_rte_lcore_id() };
        (id != sys::LCORE_ID_ANY).then_some(id)
    }

    /// The NUMA socket of an lcore.
    pub fn lcore_socket(&self, lcore: u32) -> u32 {
        // SAFETY: reads the EAL's lcore table; out-of-range ids give a defined answer.
        unsafe { sys::rte_lcore_to_socket_id(lcore) }
    }

    /// How many ethdev ports probed (`--vdev` devices, PCI devices bound to DPDK drivers).
    pub fn port_count(&self) -> u16 {
        // SAFETY: reads the ethdev port table.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The ids of the ports that probed.
    pub fn ports(&self) -> Vec<u16> {
        let max = u16::try_from(sys::RTE_MAX_ETHPORTS).unwrap_or(u16::MAX);
        // SAFETY: reads the ethdev port table; any id is accepted.
        (0..max)
            .filter(|&p| unsafe { sys::rte_eth_dev_is_valid_port(p) } == 1)
            .collect()
    }

    /// The id of the port with this name: the `--vdev` name (`net_af_packet0`) or the PCI
    /// address (`0000:01:00.0`).
    pub fn port_by_name(&self, name: &str) -> Result<u16, Error> {
        let c = CString::new(name).map_err(|_| Error::NoSuchPort(name.to_owned()))?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string and id a valid out pointer.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret == 0 {
            Ok(id)
        } else {
            Err(Error::NoSuchPort(name.to_owned()))
        }
    }

    /// Runs `f(lcore_id)` on every enabled lcore at once (the main lcore included, on the
    /// calling thread) and returns when all have finished: the dataplane's per-lcore poll
    /// loops. A panic in any `f` is resumed here after every lcore has returned.
    ///
    /// Must be called on the main lcore, with the worker lcores idle.
    pub fn run_on_lcores<F>(&self, f: F) -> Result<(), Error>
    where
        F: Fn(u32) + Sync,
    {
        if Eal::current_lcore() != Some(self.main_lcore()) {
            return Err(Error::NotMainLcore("Eal::run_on_lcores"));
        }
        let job = Job {
            f,
            panic: Mutex::new(None),
        };
        let arg = (&raw const job).cast_mut().cast::<c_void>();
        // SAFETY: `job` outlives every call of the trampoline: rte_eal_mp_wait_lcore below
        // returns only when every worker has finished, and the main lcore's call happens
        // inside rte_eal_mp_remote_launch. The trampoline only reads `job` through a shared
        // reference (F: Sync; the panic slot is a Mutex) and lets no panic unwind into C.
        let ret = unsafe {
            let ret = sys::rte_eal_mp_remote_launch(Some(trampoline::<F>), arg, sys::CALL_MAIN);
            sys::rte_eal_mp_wait_lcore();
            ret
        };
        if let Some(payload) = job.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
            resume_unwind(payload);
        }
        if ret < 0 {
            return Err(Error::dpdk(
                "rte_eal_mp_remote_launch",
                Errno::from_ret(ret),
            ));
        }
        Ok(())
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every mempool, port and mbuf borrows this Eal, so none is alive; Eal is
        // !Send, so this runs on the thread that initialised the EAL.
        unsafe { sys::rte_eal_cleanup() };
        STATE.store(DONE, Ordering::Release);
    }
}

/// The closure of [`Eal::run_on_lcores`] and the first panic it raised.
struct Job<F> {
    f: F,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

unsafe extern "C" fn trampoline<F: Fn(u32) + Sync>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Job<F>` run_on_lcores passed, alive until every lcore returned.
    let job = unsafe { &*arg.cast::<Job<F>>() };
    let lcore = Eal::current_lcore().unwrap_or(u32::MAX);
    match catch_unwind(AssertUnwindSafe(|| (job.f)(lcore))) {
        Ok(()) => 0,
        Err(payload) => {
            let mut slot = job.panic.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(payload);
            -1
        }
    }
}

/// The errno values the wrappers test for (Linux numbers; DPDK uses the C library's).
mod libc_errno {
    pub(super) const EALREADY: i32 = 114;
}
