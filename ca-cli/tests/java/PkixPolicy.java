// The JDK's PKIX CertPathBuilder as a relying party with explicit policy:
//   java PkixPolicy.java ANCHOR.pem BAG.pem TARGET.pem POLICY_OID [inhibit-mapping]
// Builds a path from TARGET to the single ANCHOR through the certificates of BAG, with the
// initial policy set {POLICY_OID}, requireExplicitPolicy set (RFC 5280 §6.1.1 (f)-(g)) and,
// when asked, policy mapping inhibited. Revocation is not checked. Prints the subjects of the
// path (target first) and the valid policies at the target, and exits 0; or prints the
// builder's reason and exits 1.
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixPolicy {
    static List<X509Certificate> read(String file) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> out = new ArrayList<>();
        try (FileInputStream in = new FileInputStream(file)) {
            for (Certificate c : cf.generateCertificates(in)) out.add((X509Certificate) c);
        }
        return out;
    }

    static void leaves(PolicyNode n, int depth, Set<String> out) {
        Iterator<? extends PolicyNode> it = n.getChildren();
        if (!it.hasNext() && n.getDepth() == depth) out.add(n.getValidPolicy());
        while (it.hasNext()) leaves(it.next(), depth, out);
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
        params.setMaxPathLength(-1);
        params.setInitialPolicies(Collections.singleton(args[3]));
        params.setExplicitPolicyRequired(true);
        params.setPolicyMappingInhibited(args.length > 4 && args[4].equals("inhibit-mapping"));
        try {
            PKIXCertPathBuilderResult r =
                (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(params);
            List<? extends Certificate> path = r.getCertPath().getCertificates();
            for (Certificate c : path)
                System.out.println(((X509Certificate) c).getSubjectX500Principal().getName("RFC2253"));
            Set<String> valid = new TreeSet<>();
            if (r.getPolicyTree() != null) leaves(r.getPolicyTree(), path.size(), valid);
            System.out.println("policies: " + String.join(",", valid));
        } catch (CertPathBuilderException e) {
            System.out.println("no path: " + e.getMessage());
            System.exit(1);
        }
    }
}
