//! Round trips and refusals with keys made by openssl and signatures made by `ring` (the
//! server signs through PKCS#11; these tests need no token).

use super::*;
use crate::trust::Verifier;
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use sync_protocol::vaccines::Catalogue;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (./scripts/setup installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key pair and its certificate.
struct Key {
    der: Vec<u8>,
    pkcs8: Vec<u8>,
    algorithm: Algorithm,
}

impl Key {
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        match self.algorithm {
            Algorithm::Es256 => {
                let k = ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &self.pkcs8,
                    &rng,
                )
                .map_err(|e| e.to_string())?;
                Ok(k.sign(&rng, data)
                    .map_err(|e| e.to_string())?
                    .as_ref()
                    .to_vec())
            }
            Algorithm::Ps256 => {
                let k = ring::signature::RsaKeyPair::from_pkcs8(&self.pkcs8)
                    .map_err(|e| e.to_string())?;
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&ring::signature::RSA_PSS_SHA256, &rng, data, &mut sig)
                    .map_err(|e| e.to_string())?;
                Ok(sig)
            }
        }
    }

    fn certificate(&self) -> SignerCertificate {
        SignerCertificate::from_der(&self.der).expect("signer certificate")
    }
}

/// A root CA and document signers under it, made with openssl in a temporary directory.
struct Pki {
    _dir: tempfile::TempDir,
    root: Vec<u8>,
    rsa: Key,
    ec: Key,
    /// Valid only in 2020.
    expired: Key,
    /// Under another root.
    foreign: Key,
}

fn make_key(dir: &Path, name: &str, ec: bool) {
    let alg: &[&str] = if ec {
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    } else {
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    };
    let key = format!("{name}.key");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(alg);
    args.extend_from_slice(&["-out", &key]);
    openssl(dir, &args);
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &key,
            "-outform",
            "DER",
            "-out",
            &format!("{name}.p8"),
        ],
    );
}

/// Writes `name.der` from the PEM certificate `pem`.
fn pem_to_der(dir: &Path, pem: &str, name: &str) {
    let der = format!("{name}.der");
    openssl(dir, &["x509", "-in", pem, "-outform", "DER", "-out", &der]);
}

fn make_root(dir: &Path, name: &str) {
    make_key(dir, name, true);
    let subject = format!("/C=VN/O=Bo Y te/CN={name}");
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &subject,
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &pem,
        ],
    );
    pem_to_der(dir, &pem, name);
    let ca = dir.join(name);
    std::fs::create_dir_all(ca.join("new")).expect("ca dir");
    std::fs::write(ca.join("index.txt"), "").expect("index");
    std::fs::write(ca.join("serial"), "1000\n").expect("serial");
    std::fs::write(
        ca.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndir = {}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\nserial = $dir/serial\n\
             certificate = {}\nprivate_key = {}\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncountryName = optional\norganizationName = optional\ncommonName = supplied\n\
             [dsc]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n",
            ca.display(),
            dir.join(&pem).display(),
            dir.join(&key).display()
        ),
    )
    .expect("ca config");
}

/// A document signer issued by `root` with `openssl ca` (which can backdate, for the expired one).
fn make_signer(dir: &Path, name: &str, root: &str, ec: bool, dates: Option<(&str, &str)>) -> Key {
    make_key(dir, name, ec);
    let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/C=VN/O=Cuc Y te du phong/CN={name}"),
            "-out",
            &csr,
        ],
    );
    let config = dir.join(root).join("ca.cnf");
    let (from, to) = dates.unwrap_or(("20250101000000Z", "20301231000000Z"));
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            &config.to_string_lossy(),
            "-extensions",
            "dsc",
            "-startdate",
            from,
            "-enddate",
            to,
            "-in",
            &csr,
            "-out",
            &pem,
        ],
    );
    pem_to_der(dir, &pem, name);
    Key {
        der: std::fs::read(dir.join(format!("{name}.der"))).expect("der"),
        pkcs8: std::fs::read(dir.join(format!("{name}.p8"))).expect("p8"),
        algorithm: if ec {
            Algorithm::Es256
        } else {
            Algorithm::Ps256
        },
    }
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    make_root(d, "CSCA-VN");
    make_root(d, "CSCA-Other");
    Pki {
        rsa: make_signer(d, "DSC-RSA", "CSCA-VN", false, None),
        ec: make_signer(d, "DSC-EC", "CSCA-VN", true, None),
        expired: make_signer(
            d,
            "DSC-2020",
            "CSCA-VN",
            true,
            Some(("20200101000000Z", "20201231000000Z")),
        ),
        foreign: make_signer(d, "DSC-Foreign", "CSCA-Other", true, None),
        root: std::fs::read(d.join("CSCA-VN.der")).expect("root"),
        _dir: dir,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn certificate() -> HealthCertificate {
    let catalogue = Catalogue::built_in();
    let vaccine = catalogue.find("moderna").expect("Spikevax");
    let dose = LatestDose {
        vaccine,
        dose_number: 2,
        date: "2026-11-28".into(),
    };
    HealthCertificate::vaccination(
        &catalogue,
        "Lê Thị Ánh Tuyết",
        "1990-07-15",
        &dose,
        new_uvci(),
    )
}

fn issue(key: &Key, issued_at: i64, expires_at: i64) -> (String, HealthCertificate) {
    let c = certificate();
    let claims = Claims {
        issuer: "VN".into(),
        issued_at,
        expires_at,
    };
    (
        encode(&c, &claims, &key.certificate(), |d| key.sign(d)).expect("encode"),
        c,
    )
}

fn trust(p: &Pki, revoked: Vec<[u8; 16]>) -> Verifier {
    let list = TrustList::new(
        now(),
        p.root.clone(),
        vec![
            p.rsa.der.clone(),
            p.ec.der.clone(),
            p.expired.der.clone(),
            p.foreign.der.clone(),
        ],
        revoked,
    );
    let signed = list
        .sign(&p.ec.certificate(), |d| p.ec.sign(d))
        .expect("sign list");
    Verifier::open(&signed, Some(&p.root)).expect("open list")
}

#[test]
#[cfg_attr(
    windows,
    ignore = "its keys and certificates are made by the openssl program, which a Windows test cannot start"
)]
fn passports_signed_ps256_and_es256_verify_and_say_what_was_issued() {
    let p = pki();
    let v = trust(&p, vec![]);
    assert_eq!(v.rejected_signers, 1, "the foreign signer is left out");
    for key in [&p.rsa, &p.ec] {
        let (text, issued) = issue(key, now(), now() + VALIDITY_SECONDS);
        assert!(text.starts_with("HC1:"));
        // Vietnam's PS256 sample is about 800 characters: a QR code of version 20 or so.
        assert!(
            text.len() < 1_200,
            "fits a QR code comfortably: {}",
            text.len()
        );
        let checked = v.check(&text, now());
        assert_eq!(checked.verdict, Verdict::Valid, "{}", key.algorithm.name());
        assert_eq!(checked.certificate.as_ref(), Some(&issued));
        assert_eq!(
            checked.certificate.expect("read").nam.given_icao.as_deref(),
            Some("THI<ANH<TUYET")
        );
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "its keys and certificates are made by the openssl program, which a Windows test cannot start"
)]
fn the_verifier_refuses_each_forgery_with_its_reason() {
    let p = pki();
    let v = trust(&p, vec![]);
    let (text, _) = issue(&p.rsa, now(), now() + VALIDITY_SECONDS);

    // A changed payload under the original signature.
    let mut d = decode(&text).expect("decode");
    let mut changed = d.certificate.clone();
    changed.nam.given = Some("Văn Giả".into());
    let hcert = coset::cbor::value::Value::serialized(&changed).expect("cbor");
    let mut cwt = Vec::new();
    coset::cbor::ser::into_writer(
        &coset::cbor::value::Value::Map(vec![
            (4.into(), d.claims.expires_at.into()),
            (6.into(), d.claims.issued_at.into()),
            (1.into(), "VN".into()),
            (
                (-260).into(),
                coset::cbor::value::Value::Map(vec![(1.into(), hcert)]),
            ),
        ]),
        &mut cwt,
    )
    .expect("cwt");
    d.sign1.payload = Some(cwt);
    let forged = rewrap(&d.sign1);
    assert_eq!(
        v.check(&forged, now()).verdict,
        Verdict::Refused(Refusal::BadSignature)
    );

    // The EC signer's kid on an RSA signature.
    let mut wrong_kid = decode(&text).expect("decode").sign1;
    wrong_kid.protected.header.key_id = p.ec.certificate().kid;
    wrong_kid.protected.original_data = None;
    assert_eq!(
        v.check(&rewrap(&wrong_kid), now()).verdict.code(),
        "algorithm"
    );
    let mut unknown = decode(&text).expect("decode").sign1;
    unknown.protected.header.key_id = vec![1, 2, 3, 4, 5, 6, 7, 8];
    unknown.protected.original_data = None;
    assert_eq!(
        v.check(&rewrap(&unknown), now()).verdict.code(),
        "unknown_signer"
    );

    // Expired: genuine, a year and a day later.
    assert_eq!(
        v.check(&text, now() + VALIDITY_SECONDS + 86_400).verdict,
        Verdict::Expired
    );
    // Signed by a signer whose certificate had expired when it signed.
    let (old, _) = issue(&p.expired, now(), now() + VALIDITY_SECONDS);
    assert_eq!(
        v.check(&old, now()).verdict,
        Verdict::Refused(Refusal::SignerValidity)
    );
    // A signer under another root is not in the list.
    let (foreign, _) = issue(&p.foreign, now(), now() + VALIDITY_SECONDS);
    assert_eq!(v.check(&foreign, now()).verdict.code(), "unknown_signer");
    // Truncated, not HC1, wrong alphabet.
    // Cut at a whole Base45 group (else the alphabet check catches it first).
    let cut = 4 + (text.len() - 4) / 2 / 3 * 3;
    assert_eq!(v.check(&text[..cut], now()).verdict.code(), "compression");
    assert_eq!(v.check(&text[..cut + 1], now()).verdict.code(), "base45");
    assert_eq!(
        v.check("https://example.vn/hc1", now()).verdict,
        Verdict::Refused(Refusal::NotHc1)
    );
    assert_eq!(v.check("HC1:abc", now()).verdict.code(), "base45");
}

fn rewrap(sign1: &coset::CoseSign1) -> String {
    use coset::TaggedCborSerializable;
    use std::io::Write;
    let bytes = sign1.clone().to_tagged_vec().expect("cose");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&bytes).expect("zlib");
    format!("HC1:{}", base45::encode(z.finish().expect("zlib")))
}

#[test]
#[cfg_attr(
    windows,
    ignore = "its keys and certificates are made by the openssl program, which a Windows test cannot start"
)]
fn a_revoked_uvci_is_reported_revoked_and_others_stay_valid() {
    let p = pki();
    let (text, issued) = issue(&p.ec, now(), now() + VALIDITY_SECONDS);
    let (other, _) = issue(&p.ec, now(), now() + VALIDITY_SECONDS);
    let v = trust(&p, vec![revocation_hash(&issued.v[0].ci)]);
    assert_eq!(v.revoked_count(), 1);
    assert_eq!(v.check(&text, now()).verdict, Verdict::Revoked);
    assert_eq!(v.check(&other, now()).verdict, Verdict::Valid);
}

#[test]
#[cfg_attr(
    windows,
    ignore = "its keys and certificates are made by the openssl program, which a Windows test cannot start"
)]
fn a_trust_list_under_another_root_or_badly_signed_or_older_is_refused() {
    let p = pki();
    let list = TrustList::new(now(), p.root.clone(), vec![p.ec.der.clone()], vec![]);
    let signed = list
        .sign(&p.ec.certificate(), |d| p.ec.sign(d))
        .expect("sign");
    let current = Verifier::open(&signed, None).expect("first list pins its root");
    // Signed by a key whose certificate the list does not hold.
    let by_rsa = list
        .sign(&p.rsa.certificate(), |d| p.rsa.sign(d))
        .expect("sign");
    assert_eq!(
        Verifier::open(&by_rsa, Some(&p.root))
            .err()
            .map(|e| e.code()),
        Some("trust_list_unknown_signer")
    );
    // A foreign root's list, signed by its own signer.
    let foreign_root = std::fs::read(p._dir.path().join("CSCA-Other.der")).expect("root");
    let theirs = TrustList::new(now(), foreign_root, vec![p.foreign.der.clone()], vec![])
        .sign(&p.foreign.certificate(), |d| p.foreign.sign(d))
        .expect("sign");
    assert_eq!(
        current.update(&theirs).err(),
        Some(TrustListError::OtherRoot)
    );
    // Older than the list in hand.
    let older = TrustList::new(now() - 10, p.root.clone(), vec![p.ec.der.clone()], vec![])
        .sign(&p.ec.certificate(), |d| p.ec.sign(d))
        .expect("sign");
    assert_eq!(current.update(&older).err(), Some(TrustListError::Older));
    // A flipped byte in the signature.
    let mut bad = signed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        Verifier::open(&bad, Some(&p.root)).err(),
        Some(TrustListError::BadSignature)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    #[cfg_attr(
        windows,
        ignore = "its keys and certificates are made by the openssl program, which a Windows test cannot start"
    )]
    fn arbitrary_text_never_panics_the_verifier(text in ".{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let v = VERIFIER.with(|v| v.clone());
        let _ = v.check(&text, 0);
        let _ = v.check(&format!("HC1:{text}"), 0);
        let _ = v.check(&format!("HC1:{}", base45::encode(&bytes)), 0);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &bytes).expect("zlib");
        let r = v.check(&format!("HC1:{}", base45::encode(z.finish().expect("zlib"))), 0);
        prop_assert_ne!(r.verdict, Verdict::Valid);
    }
}

thread_local! {
    static VERIFIER: Verifier = {
        let p = pki();
        trust(&p, vec![])
    };
}
