//! seccomp filters: the receiver's allow-list and the writers' deny-list, and
//! the report when a process makes a call its filter refuses.
//!
//! Owns: the lists, and the `SIGSYS` handler. A refused call traps
//! (`SECCOMP_RET_TRAP`): the handler names the call on stderr and the
//! process exits with [`EXIT_SECCOMP`], which its supervisor reports and
//! treats as a crash. Uses `seccompiler` (Firecracker's filter compiler: no
//! C library to link, and it builds the BPF for x86_64 and aarch64).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::error::ConfineError;

/// Exit status of a process that made a system call outside its filter.
pub const EXIT_SECCOMP: i32 = 159;

/// What the receiver calls once its loop runs: the event loop, sockets it
/// already has, memory, time, randomness for TLS, signals, exit, and
/// `socketpair` for the data channel of each new writer (the monitor starts
/// it). No open, no exec, no fork, no socket, no connect, no bind, no kill.
const RECEIVER_ALLOWED: &[i64] = &[
    libc::SYS_socketpair,
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_lseek,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_getdents64,
    libc::SYS_fcntl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_epoll_ctl,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_recvmmsg,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
    libc::SYS_shutdown,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_gettimeofday,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_getrusage,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigaction,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

/// What no writer needs, whatever its configuration.
const WRITER_DENIED: &[i64] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_userfaultfd,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_quotactl,
    libc::SYS_fanotify_init,
    libc::SYS_setuid,
    libc::SYS_setgid,
    libc::SYS_setreuid,
    libc::SYS_setregid,
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_setgroups,
];

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Whether the kernel filters system calls (seccomp mode 2).
pub fn available() -> bool {
    // SAFETY: prctl with plain integer arguments; PR_GET_SECCOMP only reads.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

fn err(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Seccomp(e.to_string())
}

/// `ioctl` only to make a socket non-blocking or to ask how much it holds.
fn ioctl_rules() -> Result<Vec<SeccompRule>, ConfineError> {
    [libc::FIONBIO, libc::FIONREAD, libc::FIOCLEX]
        .into_iter()
        .map(|request| {
            let cond = SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request)
                .map_err(err)?;
            SeccompRule::new(vec![cond]).map_err(err)
        })
        .collect()
}

fn install(filter: SeccompFilter) -> Result<(), ConfineError> {
    let program: BpfProgram = filter.try_into().map_err(err)?;
    install_sigsys_report()?;
    seccompiler::apply_filter(&program).map_err(err)
}

pub fn apply_receiver() -> Result<(), ConfineError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = RECEIVER_ALLOWED
        .iter()
        .map(|&nr| (nr, Vec::new()))
        .collect();
    rules.insert(libc::SYS_ioctl, ioctl_rules()?);
    let filter =
        SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, ARCH).map_err(err)?;
    install(filter)
}

pub fn apply_writer() -> Result<(), ConfineError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        WRITER_DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trap, ARCH).map_err(err)?;
    install(filter)
}

/// Names of the calls a confined process is most likely to be caught making.
fn call_name(nr: i64) -> &'static str {
    match nr {
        libc::SYS_open => "open",
        libc::SYS_openat => "openat",
        libc::SYS_openat2 => "openat2",
        libc::SYS_execve => "execve",
        libc::SYS_execveat => "execveat",
        libc::SYS_clone => "clone",
        libc::SYS_clone3 => "clone3",
        libc::SYS_fork => "fork",
        libc::SYS_vfork => "vfork",
        libc::SYS_socket => "socket",
        libc::SYS_connect => "connect",
        libc::SYS_bind => "bind",
        libc::SYS_listen => "listen",
        libc::SYS_kill => "kill",
        libc::SYS_tgkill => "tgkill",
        libc::SYS_ptrace => "ptrace",
        libc::SYS_mount => "mount",
        libc::SYS_unlink => "unlink",
        libc::SYS_unlinkat => "unlinkat",
        libc::SYS_rename => "rename",
        libc::SYS_renameat2 => "renameat2",
        libc::SYS_setuid => "setuid",
        libc::SYS_setresuid => "setresuid",
        libc::SYS_prctl => "prctl",
        libc::SYS_bpf => "bpf",
        _ => "",
    }
}

/// Write `n` in decimal into `buf`, returning the digits (no allocation:
/// this runs in a signal handler).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    &buf[at..]
}

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // siginfo_t for SIGSYS: after signo, errno, code (and padding to 8
    // bytes) come the call's address (a pointer) and its number (an int).
    // SAFETY: the kernel passes a valid siginfo_t of at least 128 bytes.
    let nr = unsafe {
        *(info as *const u8)
            .add(16 + std::mem::size_of::<usize>())
            .cast::<i32>()
    };
    let mut digits = [0u8; 20];
    let name = call_name(i64::from(nr));
    let parts: [&[u8]; 5] = [
        b"pysyslog: a confined process made a system call outside its seccomp filter: ",
        if name.is_empty() {
            b"number "
        } else {
            name.as_bytes()
        },
        if name.is_empty() {
            decimal(nr as u64, &mut digits)
        } else {
            b""
        },
        b"; exiting",
        b"\n",
    ];
    for part in parts {
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: as above.
    unsafe { libc::_exit(EXIT_SECCOMP) };
}

fn install_sigsys_report() -> Result<(), ConfineError> {
    // SAFETY: a zeroed sigaction with our handler and SA_SIGINFO; the
    // handler only calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_without_allocation() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(257, &mut buf), b"257");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    #[test]
    fn both_filters_compile_for_this_machine() {
        let allow: BTreeMap<i64, Vec<SeccompRule>> = RECEIVER_ALLOWED
            .iter()
            .map(|&nr| (nr, Vec::new()))
            .collect();
        let f = SeccompFilter::new(allow, SeccompAction::Trap, SeccompAction::Allow, ARCH).unwrap();
        let _: BpfProgram = f.try_into().unwrap();
        let deny: BTreeMap<i64, Vec<SeccompRule>> =
            WRITER_DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
        let f = SeccompFilter::new(deny, SeccompAction::Allow, SeccompAction::Trap, ARCH).unwrap();
        let _: BpfProgram = f.try_into().unwrap();
    }
}
