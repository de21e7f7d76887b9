// The JDK's PKIX CertPathBuilder timed in-process, for bench/path_building.sh:
//   java PkixBench.java ANCHORS.pem BAG.pem TARGET.pem EPOCH_SECONDS ITERATIONS
// Builds the path ITERATIONS times after as many warm-up builds (JIT), and prints the mean
// time of one build in microseconds. Revocation off, as in the lgpki benchmark.
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixBench {
    static List<X509Certificate> read(String file) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> out = new ArrayList<>();
        try (FileInputStream in = new FileInputStream(file)) {
            for (Certificate c : cf.generateCertificates(in)) out.add((X509Certificate) c);
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate a : read(args[0])) anchors.add(new TrustAnchor(a, null));
        List<X509Certificate> bag = read(args[1]);
        X509Certificate target = read(args[2]).get(0);
        Date date = new Date(Long.parseLong(args[3]) * 1000L);
        int n = Integer.parseInt(args[4]);
        int length = 0;
        long start = 0;
        for (int i = 0; i < 2 * n; i++) {
            if (i == n) start = System.nanoTime();
            // A fresh store and builder each time, as lgpki parses and indexes its bag per call.
            List<Object> store = new ArrayList<>(bag);
            store.add(target);
            X509CertSelector sel = new X509CertSelector();
            sel.setCertificate(target);
            PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, sel);
            params.addCertStore(
                CertStore.getInstance("Collection", new CollectionCertStoreParameters(store)));
            params.setRevocationEnabled(false);
            params.setDate(date);
            params.setMaxPathLength(-1);
            PKIXCertPathBuilderResult r =
                (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(params);
            length = r.getCertPath().getCertificates().size();
        }
        long ns = System.nanoTime() - start;
        System.out.printf("%.1f %d%n", ns / 1000.0 / n, length);
    }
}
