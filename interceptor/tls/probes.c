// TLS plaintext capture: uprobes on OpenSSL (SSL_write/SSL_read/_ex, SSL_free) and Go crypto/tls
// ((*Conn).Write/Read at entry + every RET, (*Conn).Close). Compiled by BCC at run time; the Python
// side (interceptor/tls/*.py) attaches the functions and reads the ring buffer.
//
// Every event carries the byte offset of its data in the connection's direction, kept here per
// (pid, conn, direction): a record lost in the ring buffer leaves a hole in the offsets that user
// space sees and turns into a stream gap. Data is copied in CHUNK-sized records, each submitted with
// only the bytes it holds (never the maximum), up to MAX_CHUNKS per call (CHUNK * MAX_CHUNKS bytes).
#include <uapi/linux/ptrace.h>
#include <uapi/linux/in.h>
#include <linux/socket.h>

#ifndef CHUNK
#define CHUNK 65536            // a power of two (the verifier clamp below relies on it)
#endif
#ifndef MAX_CHUNKS
#define MAX_CHUNKS 32          // 2 MiB per call (more iterations exceed the verifier's limits)
#endif
#ifndef NCPU
#define NCPU 256               // possible CPUs (user space passes the real number)
#endif
#ifndef RING_PAGES
#define RING_PAGES 4096
#endif

// EMPTY_PROBES (bench/tls --consumer empty): the hot programs return at once, to measure what the
// uprobe traps alone cost the traced programs.
#ifdef EMPTY_PROBES
#define EMPTY_RETURN return 0
#else
#define EMPTY_RETURN
#endif

#define KIND_OPENSSL 0
#define KIND_GOTLS 1
#define KIND_GNUTLS 2   // gnutls_record_send/recv: the shape of SSL_write/SSL_read, other names
#define KIND_BORINGSSL 3  // SSL_write/SSL_read found by signature in a stripped BoringSSL (grpcio)
#define KIND_NSS 4      // NSPR's PR_Write/PR_Read/PR_Send/PR_Recv on NSS's SSL layer
#define NKINDS 5
#define EV_DATA 0
#define EV_CLOSE 1
#define EV_EXEC 2      // a process called exec: user space looks at it now, not at the next rescan
#define DIR_WRITE 0
#define DIR_READ 1
#define GO_HANDSHAKE 2  // a call record that only learns the connection's socket

// Socket addresses, recorded in the kernel when a TCP socket becomes ESTABLISHED: reading them from
// /proc later loses the race with short connections (the fd is closed before user space looks).
struct addr_t {
    u16 family;    // AF_INET, AF_INET6; 0: unknown
    u16 lport;     // host order
    u16 rport;
    u16 pad;
    u8 laddr[16];  // network order; IPv4 in the first 4 bytes
    u8 raddr[16];
};

struct event_t {
    u64 ts;        // bpf_ktime_get_ns (CLOCK_MONOTONIC)
    u64 conn;      // SSL* or *tls.Conn
    u64 offset;    // of data[0] in this direction of the connection
    u32 pid;
    u32 tid;
    s32 fd;        // socket fd when known, else -1
    u32 len;       // bytes in data
    u8 type;       // EV_DATA, EV_CLOSE
    u8 dir;        // DIR_WRITE (this process sends), DIR_READ (it receives)
    u8 kind;       // KIND_OPENSSL, KIND_GOTLS, KIND_GNUTLS, KIND_BORINGSSL, KIND_NSS
    u8 pad[5];
    struct addr_t addr;  // of the connection's socket (family 0 when unknown)
    char comm[16];       // of the thread: the process may be gone before user space reads /proc
    char data[CHUNK];
};

// The header alone (EV_CLOSE, EV_EXEC): event_t without data.
struct notice_t {
    u64 ts, conn, offset;
    u32 pid, tid;
    s32 fd;
    u32 len;
    u8 type, dir, kind, pad[5];
    struct addr_t addr;
    char comm[16];
};

struct call_key_t {
    u64 id;        // OpenSSL: pid_tgid; Go: tgid
    u64 g;         // Go: goroutine pointer (R14); OpenSSL: 0
};

struct call_t {
    u64 conn;
    u64 buf;
    u64 outlen;    // size_t* of SSL_*_ex, else 0
    u64 sk;        // struct sock * of a send/recv made during the call
    s32 fd;        // learnt from a read/write syscall made during the call
    u8 dir;
    u8 ex;
    u8 kind;       // of the library whose call this is (OpenSSL and GnuTLS share the return probe)
    u8 pad;
};

struct conn_key_t {
    u32 pid;
    u32 dir;
    u64 conn;
};

struct pid_conn_t {
    u32 pid;
    u32 pad;
    u64 conn;
};

BPF_RINGBUF_OUTPUT(events, RING_PAGES);
// Scratch for one record per CPU: an ARRAY indexed by CPU, since a per-CPU array's value is limited
// to 32 KiB and larger chunks mean fewer loop iterations for the verifier.
BPF_ARRAY(scratch, struct event_t, NCPU);
// LRU maps: entries of threads or connections that vanish without a return/free age out by themselves.
BPF_TABLE("lru_hash", struct call_key_t, struct call_t, calls, 16384);
BPF_TABLE("lru_hash", struct conn_key_t, u64, offsets, 65536);
BPF_TABLE("lru_hash", struct pid_conn_t, s32, conn_fd, 65536);
BPF_TABLE("lru_hash", struct pid_conn_t, u64, conn_sk, 65536);
BPF_TABLE("lru_hash", u64, struct addr_t, sk_addrs, 65536);      // struct sock * -> addresses
BPF_TABLE("lru_hash", u64, struct call_key_t, go_thread, 16384); // pid_tgid -> Go call in flight
BPF_HASH(skip_pids, u32, u8, 16384);     // processes excluded by config (and the agent itself)
// Connections user space does not follow (the mirror of one traced at its other end, not HTTP): their
// data is not copied. Cleared when the connection ends (SSL_free, Close, a new Go handshake on the
// same pointer) or by user space.
BPF_TABLE("lru_hash", struct pid_conn_t, u8, muted, 16384);
// The socket a traced process last received from, per thread, for TLS on memory BIOs (Node.js's
// TLSWrap, and libraries driven by an event loop): the event loop recv()s a socket's bytes, feeds
// them to OpenSSL and calls SSL_read for that connection at once, on the same thread, with no
// socket syscall inside the call. Only processes that made a TLS call are remembered.
struct thread_sk_t {
    u64 sk;
    u64 ts;
};
// The evidence is order: the entry is the thread's last recv, and the SSL_read after it consumes
// it (deleted), so a later read never reuses it. The age bound only retires an entry no SSL_read
// followed; it is generous (50 ms) because a loaded node preempts the thread between the recv and
// the SSL_read (2 ms lost a Node server's addresses with both cores busy).
#define THREAD_SK_NS 50000000ULL
BPF_TABLE("lru_hash", u64, struct thread_sk_t, thread_sk, 16384);
BPF_TABLE("lru_hash", u32, u8, tls_pids, 16384);
BPF_ARRAY(lost, u64, NKINDS * 2);        // [kind*2]: records lost (ring full), [kind*2+1]: unreadable

// Data and close records are written without waking the reader: it polls with a timeout and takes
// them in batches (a wake-up per record costs the traced programs a context switch on a busy node).
// The buffer must hold one poll interval of traffic (tls.ring_buffer_bytes); overflow is counted.
static __always_inline u64 wake_flags(void) {
    return BPF_RB_NO_WAKEUP;
}

static __always_inline void count_lost(u32 idx) {
    u64 *v = lost.lookup(&idx);
    if (v)
        __sync_fetch_and_add(v, 1);
}

static __always_inline int skipped(u32 pid) {
    return skip_pids.lookup(&pid) != 0;
}

static __always_inline s32 known_fd(u32 pid, u64 conn) {
    struct pid_conn_t pk = {.pid = pid, .conn = conn};
    s32 *fd = conn_fd.lookup(&pk);
    return fd ? *fd : -1;
}

// Copies n bytes at buf as consecutive CHUNK records and advances the direction's offset by n.
// The socket of conn: the one seen in this call, else the one remembered from an earlier call.
static __always_inline u64 conn_socket(u32 pid, u64 conn, u64 sk) {
    struct pid_conn_t pk = {.pid = pid, .conn = conn};
    if (sk) {
        conn_sk.update(&pk, &sk);
        return sk;
    }
    u64 *known = conn_sk.lookup(&pk);
    return known ? *known : 0;
}

static __always_inline void emit(u32 pid, u32 tid, u64 conn, u8 dir, u8 kind, s32 fd, u64 sk, u64 buf, u64 n) {
    struct conn_key_t ck = {.pid = pid, .dir = dir, .conn = conn};
    u64 zero = 0;
    u64 *offp = offsets.lookup_or_try_init(&ck, &zero);
    if (!offp) {
        count_lost(kind * 2 + 1);
        return;
    }
    u64 start = *offp;
    *offp = start + n;   // one connection's calls are sequential (SSL* and tls.Conn are locked)
    struct pid_conn_t pk = {.pid = pid, .conn = conn};
    if (muted.lookup(&pk))
        return;
    u32 k = bpf_get_smp_processor_id();
    struct event_t *ev = scratch.lookup(&k);
    if (!ev)
        return;
    ev->ts = bpf_ktime_get_ns();
    ev->conn = conn;
    ev->pid = pid;
    ev->tid = tid;
    ev->fd = fd;
    ev->type = EV_DATA;
    ev->dir = dir;
    ev->kind = kind;
    ev->addr.family = 0;
    bpf_get_current_comm(ev->comm, sizeof(ev->comm));
    sk = conn_socket(pid, conn, sk);
    if (sk) {
        struct addr_t *a = sk_addrs.lookup(&sk);
        if (a)
            ev->addr = *a;
    }
    u64 done = 0;
    for (int i = 0; i < MAX_CHUNKS; i++) {
        if (done >= n)
            break;
        u64 left = n - done;
        u32 len = left > CHUNK ? CHUNK : (u32)left;
        asm volatile("" : "+r"(len));          // keep clang from undoing the clamp
        len = ((len - 1) & (CHUNK - 1)) + 1;    // [1, CHUNK], visible to the verifier
        ev->offset = start + done;
        ev->len = len;
        if (bpf_probe_read_user(ev->data, len, (void *)(buf + done)) != 0)
            count_lost(kind * 2 + 1);
        else if (events.ringbuf_output(ev, offsetof(struct event_t, data) + len, wake_flags()) != 0)
            count_lost(kind * 2);
        done += len;
    }
    // Bytes past MAX_CHUNKS * CHUNK are not sent: the offset jump shows user space a gap.
}

static __always_inline void emit_close(u32 pid, u64 conn, u8 kind) {
    struct conn_key_t ck = {.pid = pid, .dir = DIR_WRITE, .conn = conn};
    offsets.delete(&ck);
    ck.dir = DIR_READ;
    offsets.delete(&ck);
    struct pid_conn_t pk = {.pid = pid, .conn = conn};
    conn_fd.delete(&pk);
    conn_sk.delete(&pk);
    muted.delete(&pk);
    struct notice_t ev = {};
    ev.ts = bpf_ktime_get_ns();
    ev.conn = conn;
    ev.pid = pid;
    ev.fd = -1;
    ev.type = EV_CLOSE;
    ev.kind = kind;
    if (events.ringbuf_output(&ev, sizeof(ev), wake_flags()) != 0)
        count_lost(kind * 2);
}

// ---- OpenSSL ----------------------------------------------------------------------------------

static __always_inline int ssl_entry(struct pt_regs *ctx, u8 dir, u8 ex, u8 kind) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    if (skipped(id >> 32))
        return 0;
    u32 pid = id >> 32;
    if (!tls_pids.lookup(&pid)) {
        u8 one = 1;
        tls_pids.update(&pid, &one);
    }
    struct call_key_t key = {.id = id};
    struct call_t call = {};
    call.conn = PT_REGS_PARM1(ctx);
    call.buf = PT_REGS_PARM2(ctx);
    call.outlen = ex ? PT_REGS_PARM4(ctx) : 0;
    call.fd = -1;
    call.dir = dir;
    call.ex = ex;
    call.kind = kind;
    calls.update(&key, &call);
    return 0;
}

int ssl_write_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_WRITE, 0, KIND_OPENSSL); }
int ssl_read_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_READ, 0, KIND_OPENSSL); }
int ssl_write_ex_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_WRITE, 1, KIND_OPENSSL); }
int ssl_read_ex_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_READ, 1, KIND_OPENSSL); }
// gnutls_record_send/recv(session, data, size) -> ssize_t: SSL_write/SSL_read's shape (a count
// returned, negative on error or GNUTLS_E_AGAIN), so the same return probe copies the data.
int gnutls_write_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_WRITE, 0, KIND_GNUTLS); }
int gnutls_read_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_READ, 0, KIND_GNUTLS); }
// BoringSSL's SSL_write/SSL_read, located by interceptor/tls/boringssl.py: OpenSSL's shape.
int boringssl_write_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_WRITE, 0, KIND_BORINGSSL); }
int boringssl_read_entry(struct pt_regs *ctx) { return ssl_entry(ctx, DIR_READ, 0, KIND_BORINGSSL); }

// NSS: the application calls NSPR's generic I/O (PR_Write/PR_Read/PR_Send/PR_Recv(fd, buf, amount,
// ...), returning the count) on the top PRFileDesc, NSS's SSL layer; the layers below are called
// through their method tables, not these functions, so one call is seen once. Files, pipes and plain
// sockets go through the same functions (tstclnt's stdin and stdout): only a layered descriptor
// (PRIOMethods.file_type == PR_DESC_LAYERED) is followed.
#define PR_DESC_LAYERED 4
static __always_inline int nss_entry(struct pt_regs *ctx, u8 dir) {
    EMPTY_RETURN;
    u64 methods = 0;
    u32 type = 0;
    if (bpf_probe_read_user(&methods, sizeof(methods), (void *)PT_REGS_PARM1(ctx)) || !methods)
        return 0;
    if (bpf_probe_read_user(&type, sizeof(type), (void *)methods) || type != PR_DESC_LAYERED)
        return 0;
    return ssl_entry(ctx, dir, 0, KIND_NSS);
}
int nss_write_entry(struct pt_regs *ctx) { return nss_entry(ctx, DIR_WRITE); }
int nss_read_entry(struct pt_regs *ctx) { return nss_entry(ctx, DIR_READ); }

// Shared by the four return probes: the data is copied at return so that non-blocking retries
// (which return <= 0) produce nothing and the length is what OpenSSL reports.
int ssl_return(struct pt_regs *ctx) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    struct call_key_t key = {.id = id};
    struct call_t *call = calls.lookup(&key);
    if (!call)
        return 0;
    struct call_t c = *call;
    calls.delete(&key);
    int ret = (int)PT_REGS_RC(ctx);   // an int: the upper half of RAX is not part of it
    u64 n = 0;
    if (c.ex) {   // SSL_*_ex (1 on success) or ssl_*_internal (> 0): the count is in *outlen
        if (ret > 0 && c.outlen)
            bpf_probe_read_user(&n, sizeof(n), (void *)c.outlen);
    } else if (ret > 0) {
        n = ret;
    }
    if (n == 0)
        return 0;
    u32 pid = id >> 32;
    if (!c.sk && c.dir == DIR_READ) {   // a memory BIO: the socket this thread just received from
        struct thread_sk_t *t = thread_sk.lookup(&id);
        if (t && bpf_ktime_get_ns() - t->ts < THREAD_SK_NS)
            c.sk = t->sk;
        thread_sk.delete(&id);
    }
    s32 fd = c.fd;
    if (fd >= 0) {
        struct pid_conn_t pk = {.pid = pid, .conn = c.conn};
        conn_fd.update(&pk, &fd);
    } else {
        fd = known_fd(pid, c.conn);
    }
    emit(pid, (u32)id, c.conn, c.dir, c.kind, fd, c.sk, c.buf, n);
    return 0;
}

// The connection ``conn`` of this process is over (or its pointer names a new one from now on).
static __always_inline int session_end(u64 conn, u8 kind) {
    u64 id = bpf_get_current_pid_tgid();
    if (!conn || skipped(id >> 32))
        return 0;
    struct conn_key_t ck = {.pid = id >> 32, .dir = DIR_WRITE, .conn = conn};
    struct conn_key_t cr = {.pid = id >> 32, .dir = DIR_READ, .conn = conn};
    if (!offsets.lookup(&ck) && !offsets.lookup(&cr))
        return 0;   // no data was seen on it: nothing to close
    emit_close(id >> 32, conn, kind);
    return 0;
}

int ssl_free_entry(struct pt_regs *ctx) { return session_end(PT_REGS_PARM1(ctx), KIND_OPENSSL); }
int gnutls_deinit_entry(struct pt_regs *ctx) { return session_end(PT_REGS_PARM1(ctx), KIND_GNUTLS); }
// SSL_new's return: the pointer names a new connection from now on. Stripped BoringSSL has no
// SSL_free the signatures can find, so a freed pointer that comes back is ended here instead.
int boringssl_new_return(struct pt_regs *ctx) { return session_end(PT_REGS_RC(ctx), KIND_BORINGSSL); }
int nss_close_entry(struct pt_regs *ctx) { return session_end(PT_REGS_PARM1(ctx), KIND_NSS); }

// The socket under an SSL*: the fd of a read/write syscall made while an SSL call is in flight on
// the same thread (works for SSL_set_fd and custom BIOs such as curl's, whatever the OpenSSL layout).
static __always_inline void note_fd(s64 fd) {
    struct call_key_t key = {.id = bpf_get_current_pid_tgid()};
    struct call_t *call = calls.lookup(&key);
    if (call && call->fd < 0)
        call->fd = fd;
}

// The struct sock under the call in flight on this thread (OpenSSL by thread, Go through go_thread).
// Returns 0 when no call is in flight.
static __always_inline int note_sk(u64 id, u64 sk) {
    struct call_key_t key = {.id = id};
    struct call_t *call = calls.lookup(&key);
    if (!call) {
        struct call_key_t *gk = go_thread.lookup(&id);
        if (!gk)
            return 0;
        call = calls.lookup(gk);
        if (!call)
            return 0;
    }
    if (!call->sk)
        call->sk = sk;
    return 1;
}

TRACEPOINT_PROBE(sock, sock_send_length) { note_sk(bpf_get_current_pid_tgid(), (u64)args->sk); return 0; }
TRACEPOINT_PROBE(sock, sock_recv_length) {
    u64 id = bpf_get_current_pid_tgid();
    if (note_sk(id, (u64)args->sk) || args->ret <= 0)
        return 0;
    u32 pid = id >> 32;
    if (!tls_pids.lookup(&pid))
        return 0;
    struct thread_sk_t t = {.sk = (u64)args->sk, .ts = bpf_ktime_get_ns()};
    thread_sk.update(&id, &t);
    return 0;
}

#define TCP_ESTABLISHED 1
#define TCP_CLOSE 7
TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if (args->protocol != IPPROTO_TCP)
        return 0;
    u64 sk = (u64)args->skaddr;
    if (args->newstate == TCP_CLOSE) {
        sk_addrs.delete(&sk);
        return 0;
    }
    if (args->newstate != TCP_ESTABLISHED)
        return 0;
    struct addr_t a = {};
    a.family = args->family;
    a.lport = args->sport;
    a.rport = args->dport;
    if (a.family == AF_INET) {
        __builtin_memcpy(a.laddr, args->saddr, 4);
        __builtin_memcpy(a.raddr, args->daddr, 4);
    } else {
        __builtin_memcpy(a.laddr, args->saddr_v6, 16);
        __builtin_memcpy(a.raddr, args->daddr_v6, 16);
    }
    sk_addrs.update(&sk, &a);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_write) { note_fd(args->fd); return 0; }
TRACEPOINT_PROBE(syscalls, sys_enter_read) { note_fd(args->fd); return 0; }
TRACEPOINT_PROBE(syscalls, sys_enter_sendto) { note_fd(args->fd); return 0; }
TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom) { note_fd(args->fd); return 0; }

// ---- Go crypto/tls ------------------------------------------------------------------------------
// Register ABI (Go 1.17+): receiver RAX, slice pointer RBX, length RCX; result n in RAX at RET;
// the current goroutine in R14. Never uretprobes (they break Go's stack moves): one uprobe at the
// entry and one at every RET, calls keyed by (tgid, goroutine) since goroutines change threads.

static __always_inline s32 go_conn_fd(u64 conn) {
    // tls.Conn{conn net.Conn (itab, data)} -> *net.TCPConn{conn{fd *netFD}} -> netFD{pfd poll.FD{
    // fdmu fdMutex (16 bytes), Sysfd int}}. User space checks the fd really is a socket.
    u64 data = 0, netfd = 0;
    s64 sysfd = -1;
    if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data)
        return -1;
    if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd)
        return -1;
    if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + 16)))
        return -1;
    return (sysfd >= 0 && sysfd < (1 << 20)) ? (s32)sysfd : -1;
}

// The connection's fd: remembered, else read from the tls.Conn once and remembered.
static __always_inline s32 go_fd(u32 pid, u64 conn) {
    s32 fd = known_fd(pid, conn);
    if (fd < 0) {
        fd = go_conn_fd(conn);
        if (fd >= 0) {
            struct pid_conn_t pk = {.pid = pid, .conn = conn};
            conn_fd.update(&pk, &fd);
        }
    }
    return fd;
}

// Writes are copied at entry: the data is all there (Go's Write writes everything or fails), and at
// the RET the peer's answer may already have been read and recorded by another goroutine, which
// would put the response before its request. Reads are copied at the RET (n is known only then).
// A second entry without a RET in between is the same call restarted after morestack grew the
// stack: ignored, or its data would be recorded twice.
#define GO_HANDSHAKE_KEY (1ULL << 32)  // the handshake may run nested in Read/Write: its own key

static __always_inline int go_entry(struct pt_regs *ctx, u8 dir) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    if (skipped(pid))
        return 0;
    struct call_key_t key = {.id = pid | (dir == GO_HANDSHAKE ? GO_HANDSHAKE_KEY : 0), .g = ctx->r14};
    struct call_t *prev = calls.lookup(&key);
    if (prev && prev->conn == ctx->ax && prev->buf == ctx->bx && prev->dir == dir)
        return 0;
    struct call_t call = {};
    call.conn = ctx->ax;
    call.buf = ctx->bx;
    if (dir == GO_HANDSHAKE) {  // a new connection: a pointer reused after an unseen Close is not muted
        struct pid_conn_t pk = {.pid = pid, .conn = call.conn};
        muted.delete(&pk);
    }
    call.fd = go_fd(pid, call.conn);
    call.dir = dir;
    calls.update(&key, &call);
    go_thread.update(&id, &key);  // lets the sock tracepoints find this call
    long n = ctx->cx;
    if (dir == DIR_WRITE && n > 0)
        emit(pid, (u32)id, call.conn, DIR_WRITE, KIND_GOTLS, call.fd, 0, call.buf, n);
    return 0;
}

int go_write_entry(struct pt_regs *ctx) { return go_entry(ctx, DIR_WRITE); }
int go_read_entry(struct pt_regs *ctx) { return go_entry(ctx, DIR_READ); }
// clientHandshake/serverHandshake: their reads and writes on the socket tell the connection's struct
// sock before the first Write, so even the first record of a connection carries the addresses.
int go_handshake_entry(struct pt_regs *ctx) { return go_entry(ctx, GO_HANDSHAKE); }

// The Read/Write call in flight on goroutine g, taken out of the map; 0 when there is none.
static __always_inline int take_go_call(u32 pid, u64 g, struct call_t *out) {
    struct call_key_t key = {.id = pid, .g = g};
    struct call_t *call = calls.lookup(&key);
    if (!call)
        return 0;
    *out = *call;
    calls.delete(&key);
    return 1;
}

// Write with its probe after the stack check (gotls.py): reached once per call, so the data is copied
// right there and nothing is kept for a RET (the handshake probes told the connection's socket).
int go_write_once(struct pt_regs *ctx) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    long n = ctx->cx;
    if (n <= 0 || skipped(pid))
        return 0;
    u64 conn = ctx->ax;
    emit(pid, (u32)id, conn, DIR_WRITE, KIND_GOTLS, go_fd(pid, conn), 0, ctx->bx, n);
    return 0;
}

// Read's call to runtime.memmove, copy(b, c.input): RBX is the decrypted source, RCX the byte count
// (what Read returns). A direct call is emulated by the kernel, a RET would be single-stepped.
int go_read_copy(struct pt_regs *ctx) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    struct call_t c;
    if (!take_go_call(pid, ctx->r14, &c))
        return 0;
    long n = ctx->cx;
    if (c.dir == DIR_READ && n > 0)
        emit(pid, (u32)id, c.conn, DIR_READ, KIND_GOTLS, c.fd, c.sk, ctx->bx, n);
    return 0;
}

int go_return(struct pt_regs *ctx) {
    EMPTY_RETURN;
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    struct call_t c;
    if (!take_go_call(pid, ctx->r14, &c))
        return 0;
    long n = ctx->ax;
    if (c.dir != DIR_READ || n <= 0) {
        conn_socket(pid, c.conn, c.sk);  // remember the socket seen during a write or handshake
        return 0;
    }
    emit(pid, (u32)id, c.conn, c.dir, KIND_GOTLS, c.fd, c.sk, c.buf, n);
    return 0;
}

int go_handshake_return(struct pt_regs *ctx) {
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    struct call_key_t key = {.id = pid | GO_HANDSHAKE_KEY, .g = ctx->r14};
    struct call_t *call = calls.lookup(&key);
    if (!call)
        return 0;
    conn_socket(pid, call->conn, call->sk);
    calls.delete(&key);
    struct call_key_t outer = {.id = pid, .g = ctx->r14};
    if (calls.lookup(&outer))
        go_thread.update(&id, &outer);  // the Read/Write around it gets the next socket operations
    return 0;
}

int go_close_entry(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (skipped(pid))
        return 0;
    u64 conn = ctx->ax;
    struct conn_key_t ck = {.pid = pid, .dir = DIR_WRITE, .conn = conn};
    struct conn_key_t cr = {.pid = pid, .dir = DIR_READ, .conn = conn};
    if (!offsets.lookup(&ck) && !offsets.lookup(&cr))
        return 0;
    emit_close(pid, conn, KIND_GOTLS);
    return 0;
}

// ---- new programs --------------------------------------------------------------------------------
// A Go binary's probes must be attached before its first TLS call: the periodic rescan alone would
// miss every process younger than the scan interval.
// Holding a new program at exec (tls.hold_new_programs): a program whose executable user space has
// not classified yet is stopped (SIGSTOP) before its first instruction, so that a short-lived Go
// client's probes are attached before it talks; user space classifies the file, attaches, adds it to
// known_exes and sends SIGCONT. Only while user space is alive: its heartbeat (hold_ctl[0], ktime ns
// written every poll and during scans) must be fresher than HOLD_FRESH_NS (3 s), so a dead agent never stops anybody.
// Never a program with a controlling terminal: an interactive shell would report it as "Stopped"
// and move it to the background (services in pods have no terminal).
BPF_TABLE("lru_hash", u64, u8, known_exes, 65536);   // kernel (s_dev << 32 | i_ino) of classified files
BPF_ARRAY(hold_ctl, u64, 1);
// Every program held, with the time it was stopped: its exec notice can be lost (the ring full of
// data records), and user space must still continue it (source.py sweeps this table each poll and
// on close). A program is held only if its entry could be written.
BPF_HASH(held_pids, u32, u64, 4096);
#define HOLD_FRESH_NS 3000000000ULL
#define SIG_STOP 19

// The kernel's struct layouts come from its BTF (btf.py passes the offsets): the headers BCC
// compiles against need not be the running kernel's. Without them, nothing is ever held.
static __always_inline u64 read_ptr(u64 base, u64 off) {
    u64 v = 0;
    if (base)
        bpf_probe_read_kernel(&v, sizeof(v), (void *)(base + off));
    return v;
}

#ifdef OFF_TASK_SIGNAL
#define CAN_HOLD 1
static __always_inline int has_tty(u64 task) {
    return read_ptr(read_ptr(task, OFF_TASK_SIGNAL), OFF_SIGNAL_TTY) != 0;
}

static __always_inline u64 exe_key(u64 task) {
    u64 inode = read_ptr(read_ptr(read_ptr(task, OFF_TASK_MM), OFF_MM_EXE_FILE), OFF_FILE_INODE);
    if (!inode)
        return 0;
    u64 ino = read_ptr(inode, OFF_INODE_INO);
    u32 dev = 0;
    u64 sb = read_ptr(inode, OFF_INODE_SB);
    if (sb)
        bpf_probe_read_kernel(&dev, sizeof(dev), (void *)(sb + OFF_SB_DEV));
    return ((u64)dev << 32) ^ ino;
}
#else
#define CAN_HOLD 0
static __always_inline int has_tty(u64 task) { return 1; }
static __always_inline u64 exe_key(u64 task) { return 0; }
#endif

TRACEPOINT_PROBE(sched, sched_process_exec) {
    struct notice_t ev = {};
    ev.ts = bpf_ktime_get_ns();
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    ev.pid = pid;
    ev.fd = -1;
    ev.type = EV_EXEC;
    bpf_get_current_comm(ev.comm, sizeof(ev.comm));
    u32 zero = 0;
    u64 *beat = hold_ctl.lookup(&zero);
    if (CAN_HOLD && beat && *beat && ev.ts - *beat < HOLD_FRESH_NS && !skipped(pid)) {
        u64 task = bpf_get_current_task();
        u64 key = exe_key(task);
        ev.conn = key;
        if (key && !known_exes.lookup(&key) && !has_tty(task) && held_pids.insert(&pid, &ev.ts) == 0) {
            ev.dir = 1;   // held: user space must SIGCONT it
            bpf_send_signal(SIG_STOP);
        }
    }
    events.ringbuf_output(&ev, sizeof(ev), BPF_RB_FORCE_WAKEUP);  // attach before it gets far
    return 0;
}
