// Java HttpClient (JSSE) test client: java HttpsGet URL N [LINGER_MS] -- N GET requests, certificate not
// checked; then it stays alive LINGER_MS (a service's client outlives its handshake: the agent names it).
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public class HttpsGet {
    public static void main(String[] args) throws Exception {
        TrustManager[] trustAll = {new X509TrustManager() {
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
            public void checkClientTrusted(X509Certificate[] c, String a) {}
            public void checkServerTrusted(X509Certificate[] c, String a) {}
        }};
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, trustAll, null);
        HttpClient client = HttpClient.newBuilder().sslContext(ssl).build();
        int n = Integer.parseInt(args[1]);
        for (int i = 0; i < n; i++) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(args[0] + "/java/" + i)).GET().build();
            HttpResponse<String> resp = client.send(req, HttpResponse.BodyHandlers.ofString());
            System.out.println(resp.statusCode() + " " + resp.body().length());
        }
        if (args.length > 2) Thread.sleep(Long.parseLong(args[2]));
    }
}
