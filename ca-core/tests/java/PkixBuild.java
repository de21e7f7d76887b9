// The JDK's PKIX CertPathBuilder (RFC 4158-style forward building) as a peer for the
// path-building tests: java PkixBuild.java ANCHORS.pem BAG.pem TARGET.pem EPOCH_SECONDS
// Prints the subjects of the path found (target first, anchor last) and exits 0, or prints
// the builder's reason and exits 1. Revocation is not checked; the initial policy set is
// anyPolicy and no explicit policy is required (RFC 5280 §6.1.1 defaults).
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixBuild {
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
        List<Object> store = new ArrayList<>(read(args[1]));
        X509Certificate target = read(args[2]).get(0);
        store.add(target);
        X509CertSelector sel = new X509CertSelector();
        sel.setCertificate(target);
        PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, sel);
        params.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(store)));
        params.setRevocationEnabled(false);
        params.setDate(new Date(Long.parseLong(args[3]) * 1000L));
        params.setMaxPathLength(-1);
        try {
            PKIXCertPathBuilderResult r =
                (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(params);
            for (Certificate c : r.getCertPath().getCertificates())
                System.out.println(((X509Certificate) c).getSubjectX500Principal().getName("RFC2253"));
            System.out.println(r.getTrustAnchor().getTrustedCert().getSubjectX500Principal().getName("RFC2253"));
        } catch (CertPathBuilderException e) {
            System.out.println("no path: " + e.getMessage());
            System.exit(1);
        }
    }
}
