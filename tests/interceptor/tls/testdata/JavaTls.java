// Test program for the Java TLS agent (run with the source launcher: java JavaTls.java MODE ...).
//   server CERT.p12 PASS   HttpsServer (SSLEngine) echo on 127.0.0.1:0; prints "LISTEN <port>"
//   client PORT SIZES      java.net.http.HttpClient (SSLEngine): waits for a line on stdin, then
//                          keep-alive POSTs /java/<i> of the comma-separated SIZES (pytls.py body())
//   urlconn PORT SIZES     HttpsURLConnection (SSLSocket): the same POSTs to /jurl/<i>
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public class JavaTls {
    static byte[] body(int i, int size) {
        String head = "{\"i\":" + i + ",\"pad\":\"";
        return (head + "y".repeat(size - head.length() - 2) + "\"}").getBytes();
    }

    static SSLContext trustAll() throws Exception {
        TrustManager[] tm = {new X509TrustManager() {
            public void checkClientTrusted(X509Certificate[] c, String a) {}
            public void checkServerTrusted(X509Certificate[] c, String a) {}
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        }};
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tm, null);
        return ctx;
    }

    public static void main(String[] a) throws Exception {
        System.setProperty("jdk.internal.httpclient.disableHostnameVerification", "true");  // a test cert
        if (a[0].equals("server")) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(new FileInputStream(a[1]), a[2].toCharArray());
            KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
            kmf.init(ks, a[2].toCharArray());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            HttpsServer srv = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
            srv.setHttpsConfigurator(new HttpsConfigurator(ctx));
            srv.createContext("/", ex -> {
                byte[] data = ex.getRequestBody().readAllBytes();
                ex.getResponseHeaders().add("Content-Type", "application/json");
                ex.sendResponseHeaders(200, data.length);
                try (OutputStream os = ex.getResponseBody()) { os.write(data); }
            });
            srv.start();
            System.out.println("LISTEN " + srv.getAddress().getPort());
            System.out.flush();
            return;
        }
        int port = Integer.parseInt(a[1]);
        String[] sizes = a[2].split(",");
        new BufferedReader(new InputStreamReader(System.in)).readLine();
        long start = System.nanoTime();
        if (a[0].equals("client")) {
            HttpClient client = HttpClient.newBuilder().sslContext(trustAll()).version(HttpClient.Version.HTTP_1_1).build();
            for (int i = 0; i < sizes.length; i++) {
                HttpRequest req = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/java/" + i))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body(i, Integer.parseInt(sizes[i])))).build();
                HttpResponse<byte[]> resp = client.send(req, HttpResponse.BodyHandlers.ofByteArray());
                System.out.println(resp.statusCode() + " " + resp.body().length);
            }
        } else {
            HttpsURLConnection.setDefaultSSLSocketFactory(trustAll().getSocketFactory());
            HttpsURLConnection.setDefaultHostnameVerifier((h, s) -> true);
            for (int i = 0; i < sizes.length; i++) {
                HttpsURLConnection c = (HttpsURLConnection) new URL("https://127.0.0.1:" + port + "/jurl/" + i).openConnection();
                c.setRequestMethod("POST");
                c.setDoOutput(true);
                c.setRequestProperty("Content-Type", "application/json");
                try (OutputStream os = c.getOutputStream()) { os.write(body(i, Integer.parseInt(sizes[i]))); }
                byte[] resp = c.getInputStream().readAllBytes();
                System.out.println(c.getResponseCode() + " " + resp.length);
            }
        }
        System.out.println("ELAPSED " + (System.nanoTime() - start) / 1e9);
        System.out.flush();
    }
}
