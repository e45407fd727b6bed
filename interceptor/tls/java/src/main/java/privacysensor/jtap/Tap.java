package privacysensor.jtap;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the instrumented JSSE methods call (loaded by the bootstrap class loader, so java.base code
 * can call it; it uses java.base only). Plaintext of SSLSocket streams and SSLEngine wrap/unwrap goes
 * to the node agent as frames over a Unix socket, from a bounded queue drained by one daemon thread:
 * an application thread never waits on the agent; when the queue is full the frame is dropped and
 * counted (the agent sees the offset jump as a gap).
 *
 * An SSLSocket knows its addresses. An SSLEngine does not: its socket is found by the first bytes of
 * the TLS records it consumes or produces, which are also the first bytes of a record read from or
 * written to a SocketChannel (ciphertext: 16 bytes of it name one record, no two alike).
 */
public final class Tap {
    public static final int WRITE = 0;
    public static final int READ = 1;
    private static final int T_DATA = 1, T_ADDR = 2, T_CLOSE = 3, T_HELLO = 4, T_DROPS = 5;
    private static final int QUEUE_FRAMES = 8192;
    private static final long QUEUE_BYTES = 32L << 20;
    private static final int FP_BYTES = 16;
    private static final int FP_TABLE = 4096;

    private static volatile boolean enabled;
    private static volatile Runnable onStop;
    private static ArrayBlockingQueue<byte[]> queue;
    private static final AtomicLong queuedBytes = new AtomicLong();
    private static final AtomicLong dropped = new AtomicLong();
    private static final AtomicLong ids = new AtomicLong();
    private static final Map<Object, Conn> conns = new WeakHashMap<>();
    private static final Map<Object, ChannelState> channels = new WeakHashMap<>();
    private static final Map<Long, Object> readFp = lru();   // record fingerprint -> channel it came from
    private static final Map<Long, Object> writeFp = lru();  // record fingerprint -> engine that made it

    private Tap() {}

    static final class Conn {
        final long id = ids.incrementAndGet();
        final long[] offset = new long[2];
        boolean addressed;
    }

    static final class ChannelState {
        final int[] skip = new int[2];       // bytes left of the current record, per direction
        final byte[][] head = {new byte[5], new byte[5]};  // a record header split across two calls
        final int[] headLen = new int[2];
    }

    private static <K, V> Map<K, V> lru() {
        return new LinkedHashMap<K, V>(FP_TABLE, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> e) {
                return size() > FP_TABLE;
            }
        };
    }

    /** Called once by the agent: connect to the node agent and start sending. */
    public static synchronized void start(String socketPath, Runnable stop) throws Exception {
        if (enabled) {
            return;
        }
        SocketChannel out = SocketChannel.open(UnixDomainSocketAddress.of(socketPath));
        queue = new ArrayBlockingQueue<>(QUEUE_FRAMES);
        onStop = stop;
        enabled = true;
        byte[] version = System.getProperty("java.version", "?").getBytes();
        ByteBuffer hello = frame(T_HELLO, 8 + version.length);
        hello.putLong(ProcessHandle.current().pid()).put(version);
        offer(hello.array());
        Thread t = new Thread(() -> pump(out), "privacy-sensor-jtap");
        t.setDaemon(true);
        t.start();
        // A JVM that exits right after its last read would take the frames still queued with it (the
        // end of its last response): on exit, wait until the queue is sent, at most DRAIN_MS.
        Runtime.getRuntime().addShutdownHook(new Thread(Tap::drain, "privacy-sensor-jtap-drain"));
    }

    private static void pump(SocketChannel out) {
        long reported = 0;
        try {
            while (enabled) {
                byte[] f = queue.poll(200, java.util.concurrent.TimeUnit.MILLISECONDS);
                long d = dropped.get();
                if (d != reported) {
                    ByteBuffer drops = frame(T_DROPS, 8);
                    drops.putLong(d);
                    writeAll(out, drops.array());
                    reported = d;
                }
                if (f == null) {
                    continue;
                }
                writeAll(out, f);
                queuedBytes.addAndGet(-f.length);  // after the write: drain() waits for it
            }
        } catch (Exception e) {
            // the node agent went away (stopped, detached): stop copying, remove the instrumentation
        } finally {
            enabled = false;
            queue.clear();
            Runnable stop = onStop;
            if (stop != null) {
                stop.run();
            }
        }
    }

    private static final long DRAIN_MS = 1000;

    private static void drain() {
        long deadline = System.currentTimeMillis() + DRAIN_MS;
        while (enabled && queuedBytes.get() > 0 && System.currentTimeMillis() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static void writeAll(SocketChannel out, byte[] f) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.wrap(f);
        while (b.hasRemaining()) {
            out.write(b);
        }
    }

    private static ByteBuffer frame(int type, int bodyLen) {
        ByteBuffer b = ByteBuffer.allocate(5 + bodyLen);
        b.putInt(1 + bodyLen).put((byte) type);
        return b;
    }

    private static void offer(byte[] f) {
        if (queuedBytes.get() + f.length > QUEUE_BYTES || !queue.offer(f)) {
            dropped.incrementAndGet();
            return;
        }
        queuedBytes.addAndGet(f.length);
    }

    private static synchronized Conn conn(Object key) {
        return conns.computeIfAbsent(key, k -> new Conn());
    }

    private static void data(Conn c, int dir, byte[] b, int off, int len) {
        long start;
        synchronized (c) {
            start = c.offset[dir];
            c.offset[dir] += len;
        }
        ByteBuffer f = frame(T_DATA, 8 + 1 + 8 + 8 + len);
        f.putLong(c.id).put((byte) dir).putLong(start).putLong(System.nanoTime()).put(b, off, len);
        offer(f.array());
    }

    private static void address(Conn c, SocketAddress local, SocketAddress remote) {
        if (!(local instanceof InetSocketAddress) || !(remote instanceof InetSocketAddress)) {
            return;
        }
        synchronized (c) {
            if (c.addressed) {
                return;
            }
            c.addressed = true;
        }
        InetSocketAddress l = (InetSocketAddress) local, r = (InetSocketAddress) remote;
        ByteBuffer f = frame(T_ADDR, 8 + 2 + 2 + 1 + 16 + 16);
        f.putLong(c.id).putShort((short) l.getPort()).putShort((short) r.getPort());
        InetAddress la = l.getAddress(), ra = r.getAddress();
        byte[] lb = la == null ? new byte[4] : la.getAddress(), rb = ra == null ? new byte[4] : ra.getAddress();
        f.put((byte) (lb.length == 4 ? 4 : 6)).put(pad16(lb)).put(pad16(rb));
        offer(f.array());
    }

    private static byte[] pad16(byte[] a) {
        byte[] out = new byte[16];
        System.arraycopy(a, 0, out, 0, Math.min(16, a.length));
        return out;
    }

    // ---- SSLSocket: SSLSocketImpl$AppOutputStream.write / AppInputStream.read ------------------------

    public static void socketData(Object sslSocket, int dir, byte[] b, int off, int len) {
        if (!enabled || len <= 0 || b == null) {
            return;
        }
        try {
            Conn c = conn(sslSocket);
            if (!c.addressed && sslSocket instanceof Socket) {
                Socket s = (Socket) sslSocket;
                address(c, s.getLocalSocketAddress(), s.getRemoteSocketAddress());
            }
            data(c, dir, b, off, len);
        } catch (RuntimeException e) {
            dropped.incrementAndGet();  // never fail the application's call
        }
    }

    public static void closed(Object key) {
        if (!enabled) {
            return;
        }
        Conn c;
        synchronized (Tap.class) {
            c = conns.remove(key);
        }
        if (c != null) {
            ByteBuffer f = frame(T_CLOSE, 8);
            f.putLong(c.id);
            offer(f.array());
        }
    }

    // ---- SSLEngine: wrap (plaintext consumed from srcs) and unwrap (plaintext produced into dsts) ----

    /** Positions of the buffers before the call (the advice takes them on entry). */
    public static int[] positions(ByteBuffer[] bufs, int offset, int length) {
        if (!enabled || bufs == null) {
            return null;
        }
        int[] p = new int[length];
        for (int i = 0; i < length; i++) {
            p[i] = bufs[offset + i].position();
        }
        return p;
    }

    public static int position(ByteBuffer b) {
        return enabled && b != null ? b.position() : -1;
    }

    /** After wrap/unwrap: ``count`` plaintext bytes starting at the saved positions of ``bufs``. */
    public static void engineData(Object engine, int dir, ByteBuffer[] bufs, int offset, int[] before, int count,
                                  ByteBuffer net, int netBefore) {
        if (!enabled || before == null) {
            return;
        }
        try {
            if (dir == WRITE && net != null && netBefore >= 0) {
                fingerprints(net, netBefore, net.position(), engine, writeFp);
            } else if (dir == READ && net != null && netBefore >= 0) {
                Object channel = lookupFp(readFp, net, netBefore);
                if (channel instanceof SocketChannel) {
                    associate(engine, (SocketChannel) channel);
                }
            }
            if (count <= 0) {
                return;
            }
            Conn c = conn(engine);
            for (int i = 0; i < before.length && count > 0; i++) {
                ByteBuffer b = bufs[offset + i];
                int n = Math.min(count, Math.abs(b.position() - before[i]));
                if (n <= 0) {
                    continue;
                }
                byte[] copy = new byte[n];
                ByteBuffer dup = b.duplicate();
                dup.position(before[i]);
                dup.get(copy, 0, n);
                data(c, dir, copy, 0, n);
                count -= n;
            }
        } catch (RuntimeException e) {
            dropped.incrementAndGet();
        }
    }

    private static void associate(Object engine, SocketChannel ch) {
        Conn c = conn(engine);
        if (c.addressed) {
            return;
        }
        try {
            address(c, ch.getLocalAddress(), ch.getRemoteAddress());
        } catch (java.io.IOException e) {
            // closed meanwhile: the records go without addresses
        }
    }

    // ---- SocketChannel reads and writes: the TLS records' fingerprints ------------------------------

    public static void channelIo(Object channel, int dir, ByteBuffer buf, int before, int n) {
        if (!enabled || n <= 0 || buf == null || before < 0) {
            return;
        }
        try {
            int start = dir == READ ? buf.position() - n : before;
            // reads register each record's fingerprint; writes look up the engine that made it
            recordStarts(channel, dir, buf, start, start + n, dir == READ ? readFp : writeFp, dir == WRITE);
        } catch (RuntimeException e) {
            // fingerprints are a best effort: a miss only leaves a stream without addresses
        }
    }

    private static void recordStarts(Object channel, int dir, ByteBuffer buf, int from, int to,
                                     Map<Long, Object> table, boolean lookup) {
        ChannelState st;
        synchronized (Tap.class) {
            st = channels.computeIfAbsent(channel, k -> new ChannelState());
        }
        synchronized (st) {
            int i = from;
            while (i < to) {
                if (st.skip[dir] > 0) {
                    int adv = Math.min(st.skip[dir], to - i);
                    i += adv;
                    st.skip[dir] -= adv;
                    continue;
                }
                if (st.headLen[dir] > 0 || to - i < 5) {  // a header split over two calls
                    while (st.headLen[dir] < 5 && i < to) {
                        st.head[dir][st.headLen[dir]++] = buf.get(i++);
                    }
                    if (st.headLen[dir] < 5) {
                        return;
                    }
                    st.headLen[dir] = 0;
                    st.skip[dir] = (((st.head[dir][3] & 0xff) << 8) | (st.head[dir][4] & 0xff));
                    continue;
                }
                int len = ((buf.get(i + 3) & 0xff) << 8) | (buf.get(i + 4) & 0xff);
                if (to - i >= FP_BYTES) {
                    long fp = fingerprint(buf, i);
                    synchronized (table) {
                        if (lookup) {
                            Object engine = table.remove(fp);
                            if (engine != null && channel instanceof SocketChannel) {
                                associate(engine, (SocketChannel) channel);
                            }
                        } else {
                            table.put(fp, channel);
                        }
                    }
                }
                st.skip[dir] = 5 + len;
            }
        }
    }

    private static void fingerprints(ByteBuffer net, int from, int to, Object engine, Map<Long, Object> table) {
        int i = from;
        while (i + FP_BYTES <= to) {
            int len = ((net.get(i + 3) & 0xff) << 8) | (net.get(i + 4) & 0xff);
            long fp = fingerprint(net, i);
            synchronized (table) {
                table.put(fp, engine);
            }
            i += 5 + len;
        }
    }

    private static Object lookupFp(Map<Long, Object> table, ByteBuffer net, int at) {
        if (net.limit() - at < FP_BYTES) {
            return null;
        }
        long fp = fingerprint(net, at);
        synchronized (table) {
            return table.remove(fp);
        }
    }

    private static long fingerprint(ByteBuffer b, int at) {
        long h = 0xcbf29ce484222325L;  // FNV-1a over the record's first 16 bytes
        for (int i = 0; i < FP_BYTES; i++) {
            h ^= b.get(at + i) & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    public static long dropped() {
        return dropped.get();
    }
}
