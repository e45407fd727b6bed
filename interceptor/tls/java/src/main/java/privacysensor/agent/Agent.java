package privacysensor.agent;

import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.lang.instrument.Instrumentation;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import javax.net.ssl.SSLEngineResult;

import net.bytebuddy.agent.builder.AgentBuilder;
import net.bytebuddy.agent.builder.ResettableClassFileTransformer;
import net.bytebuddy.asm.Advice;
import net.bytebuddy.matcher.ElementMatchers;

import static net.bytebuddy.matcher.ElementMatchers.named;
import static net.bytebuddy.matcher.ElementMatchers.takesArgument;
import static net.bytebuddy.matcher.ElementMatchers.takesArguments;

/**
 * The JVM side of the TLS source: loaded into a running JVM by the node agent (HotSpot attach,
 * interceptor/tls/java.py) with the path of a Unix socket as its argument. It puts its bootstrap part
 * (privacysensor.jtap.Tap) on the bootstrap class path, lets java.base read it, and adds advice to
 * JSSE: SSLSocket's application streams, SSLEngine's wrap/unwrap, and SocketChannel read/write (for
 * the engines' addresses). When the node agent goes away, the advice is removed again.
 */
public final class Agent {
    private Agent() {}

    public static void premain(String args, Instrumentation inst) throws Exception {
        agentmain(args, inst);
    }

    public static void agentmain(String args, Instrumentation inst) throws Exception {
        String jar = Agent.class.getProtectionDomain().getCodeSource().getLocation().getPath();
        inst.appendToBootstrapClassLoaderSearch(new JarFile(bootstrapPart(jar)));
        Class<?> tap = Class.forName("privacysensor.jtap.Tap", true, null);
        Module javaBase = Object.class.getModule();
        inst.redefineModule(javaBase, Set.of(tap.getModule()), Map.of(), Map.of(), Set.of(), Map.of());

        ResettableClassFileTransformer[] installed = new ResettableClassFileTransformer[1];
        Runnable stop = () -> {
            if (installed[0] != null) {
                installed[0].reset(inst, AgentBuilder.RedefinitionStrategy.RETRANSFORMATION);
            }
        };
        installed[0] = new AgentBuilder.Default()
            .disableClassFormatChanges()
            .with(AgentBuilder.RedefinitionStrategy.RETRANSFORMATION)
            .with(AgentBuilder.InitializationStrategy.NoOp.INSTANCE)
            .with(AgentBuilder.TypeStrategy.Default.REDEFINE)
            // only the JDK classes advised below are looked at (not the application's thousands)
            .ignore(ElementMatchers.not(ElementMatchers.nameStartsWith("sun.security.ssl.SSL")
                .or(named("sun.nio.ch.SocketChannelImpl"))))
            .type(named("sun.security.ssl.SSLSocketImpl$AppOutputStream"))
            .transform((b, type, loader, module, pd) -> b.visit(Advice.to(SocketWrite.class)
                .on(named("write").and(takesArguments(byte[].class, int.class, int.class)))))
            .type(named("sun.security.ssl.SSLSocketImpl$AppInputStream"))
            .transform((b, type, loader, module, pd) -> b.visit(Advice.to(SocketRead.class)
                .on(named("read").and(takesArguments(byte[].class, int.class, int.class)))))
            .type(named("sun.security.ssl.SSLSocketImpl"))
            .transform((b, type, loader, module, pd) -> b.visit(Advice.to(SocketClose.class)
                .on(named("close").and(takesArguments(0)))))
            .type(named("sun.security.ssl.SSLEngineImpl"))
            .transform((b, type, loader, module, pd) -> b
                .visit(Advice.to(EngineWrap.class).on(named("wrap").and(takesArguments(4))
                    .and(takesArgument(0, ByteBuffer[].class))))
                .visit(Advice.to(EngineUnwrap.class).on(named("unwrap").and(takesArguments(4))
                    .and(takesArgument(0, ByteBuffer.class)))))
            .type(named("sun.nio.ch.SocketChannelImpl"))
            .transform((b, type, loader, module, pd) -> b
                .visit(Advice.to(ChannelRead.class).on(named("read").and(takesArguments(ByteBuffer.class))))
                .visit(Advice.to(ChannelWrite.class).on(named("write").and(takesArguments(ByteBuffer.class)))))
            .installOn(inst);
        tap.getMethod("start", String.class, Runnable.class).invoke(null, args, stop);
    }

    /** A jar of the bootstrap part only: were the whole jar on the bootstrap path, ByteBuddy's classes
     * would load from two class loaders at once. */
    static File bootstrapPart(String jar) throws Exception {
        File boot = File.createTempFile("privacy-sensor-jtap-boot", ".jar");
        boot.deleteOnExit();
        try (JarFile self = new JarFile(jar); JarOutputStream out = new JarOutputStream(new FileOutputStream(boot))) {
            for (JarEntry e : Collections.list(self.entries())) {
                if (e.getName().startsWith("privacysensor/jtap/")) {
                    out.putNextEntry(new JarEntry(e.getName()));
                    try (InputStream in = self.getInputStream(e)) {
                        in.transferTo(out);
                    }
                    out.closeEntry();
                }
            }
        }
        return boot;
    }

    static final class SocketWrite {
        @Advice.OnMethodEnter
        static void enter(@Advice.FieldValue("this$0") Object socket, @Advice.Argument(0) byte[] b,
                          @Advice.Argument(1) int off, @Advice.Argument(2) int len) {
            privacysensor.jtap.Tap.socketData(socket, privacysensor.jtap.Tap.WRITE, b, off, len);
        }
    }

    static final class SocketRead {
        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.FieldValue("this$0") Object socket, @Advice.Argument(0) byte[] b,
                         @Advice.Argument(1) int off, @Advice.Return int n) {
            privacysensor.jtap.Tap.socketData(socket, privacysensor.jtap.Tap.READ, b, off, n);
        }
    }

    static final class SocketClose {
        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.This Object socket) {
            privacysensor.jtap.Tap.closed(socket);
        }
    }

    static final class EngineWrap {
        @Advice.OnMethodEnter
        static int[] enter(@Advice.Argument(0) ByteBuffer[] srcs, @Advice.Argument(1) int offset,
                           @Advice.Argument(2) int length, @Advice.Argument(3) ByteBuffer dst,
                           @Advice.Local("netBefore") int netBefore) {
            netBefore = privacysensor.jtap.Tap.position(dst);
            return privacysensor.jtap.Tap.positions(srcs, offset, length);
        }

        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.This Object engine, @Advice.Argument(0) ByteBuffer[] srcs,
                         @Advice.Argument(1) int offset, @Advice.Argument(3) ByteBuffer dst,
                         @Advice.Enter int[] before, @Advice.Local("netBefore") int netBefore,
                         @Advice.Return SSLEngineResult result) {
            if (result != null) {
                privacysensor.jtap.Tap.engineData(engine, privacysensor.jtap.Tap.WRITE, srcs, offset, before,
                    result.bytesConsumed(), dst, netBefore);
            }
        }
    }

    static final class EngineUnwrap {
        @Advice.OnMethodEnter
        static int[] enter(@Advice.Argument(0) ByteBuffer src, @Advice.Argument(1) ByteBuffer[] dsts,
                           @Advice.Argument(2) int offset, @Advice.Argument(3) int length,
                           @Advice.Local("netBefore") int netBefore) {
            netBefore = privacysensor.jtap.Tap.position(src);
            return privacysensor.jtap.Tap.positions(dsts, offset, length);
        }

        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.This Object engine, @Advice.Argument(0) ByteBuffer src,
                         @Advice.Argument(1) ByteBuffer[] dsts, @Advice.Argument(2) int offset,
                         @Advice.Enter int[] before, @Advice.Local("netBefore") int netBefore,
                         @Advice.Return SSLEngineResult result) {
            if (result != null) {
                privacysensor.jtap.Tap.engineData(engine, privacysensor.jtap.Tap.READ, dsts, offset, before,
                    result.bytesProduced(), src, netBefore);
            }
        }
    }

    static final class ChannelRead {
        @Advice.OnMethodEnter
        static int enter(@Advice.Argument(0) ByteBuffer dst) {
            return privacysensor.jtap.Tap.position(dst);
        }

        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.This Object channel, @Advice.Argument(0) ByteBuffer dst,
                         @Advice.Enter int before, @Advice.Return int n) {
            privacysensor.jtap.Tap.channelIo(channel, privacysensor.jtap.Tap.READ, dst, before, n);
        }
    }

    static final class ChannelWrite {
        @Advice.OnMethodEnter
        static int enter(@Advice.Argument(0) ByteBuffer src) {
            return privacysensor.jtap.Tap.position(src);
        }

        @Advice.OnMethodExit(onThrowable = Throwable.class)
        static void exit(@Advice.This Object channel, @Advice.Argument(0) ByteBuffer src,
                         @Advice.Enter int before, @Advice.Return int n) {
            privacysensor.jtap.Tap.channelIo(channel, privacysensor.jtap.Tap.WRITE, src, before, n);
        }
    }
}
