#!/usr/bin/python3
"""An independent check of Sổ Tiêm's vaccine passports (Debian's python3-cbor2,
python3-cryptography, python3-jsonschema): decodes each HC1 string, verifies its COSE_Sign1
signature with the document signer's certificate, checks the kid and validates the payload
against the vendored EU DCC JSON schema 1.3.0.

Usage: dcc_check.py SCHEMA.json SIGNERS_DIR PASSPORTS.txt
SIGNERS_DIR holds the signers' certificates (*.der); PASSPORTS.txt one HC1 string per line.
Prints one JSON object per passport; exits 1 if any fails.
"""
import hashlib
import json
import sys
import zlib
from pathlib import Path

import cbor2
import jsonschema
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45_decode(text):
    """RFC 9285, written here from the RFC rather than taken from the issuer's library."""
    values = [ALPHABET.index(c) for c in text]
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            out += n.to_bytes(2, "big")
        elif len(chunk) == 2:
            out.append(n)
        else:
            raise ValueError("dangling base45 character")
    return bytes(out)


def check(hc1, signers, schema):
    assert hc1.startswith("HC1:"), "prefix"
    cose = cbor2.loads(zlib.decompress(base45_decode(hc1[4:])))
    if isinstance(cose, cbor2.CBORTag):
        assert cose.tag == 18, f"tag {cose.tag}"
        cose = cose.value
    protected_bytes, unprotected, payload, signature = cose
    protected = cbor2.loads(protected_bytes)
    alg, kid = protected[1], protected.get(4) or unprotected.get(4)
    cert = signers[kid]
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    key = cert.public_key()
    if alg == -37:
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, to_be_signed,
                   padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                   hashes.SHA256())
    elif alg == -7:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))
    else:
        raise AssertionError(f"algorithm {alg}")
    claims = cbor2.loads(payload)
    assert claims[1] == "VN", "iss"
    assert claims[4] > claims[6], "exp after iat"
    hcert = claims[-260][1]
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(hcert)
    v = hcert["v"][0]
    assert v["ci"].startswith("URN:UVCI:01:VN:") and len(v["ci"]) == 15 + 32, v["ci"]
    return {"ok": True, "alg": alg, "kid": kid.hex(), "iat": claims[6], "exp": claims[4],
            "fnt": hcert["nam"]["fnt"], "gnt": hcert["nam"].get("gnt"), "dob": hcert["dob"],
            "dn": v["dn"], "sd": v["sd"], "mp": v["mp"], "dt": v["dt"], "ci": v["ci"], "is": v["is"]}


def main():
    schema = json.loads(Path(sys.argv[1]).read_text())
    signers = {}
    for der in sorted(Path(sys.argv[2]).glob("*.der")):
        data = der.read_bytes()
        signers[hashlib.sha256(data).digest()[:8]] = x509.load_der_x509_certificate(data)
    failed = False
    for line in Path(sys.argv[3]).read_text().splitlines():
        if not line.strip():
            continue
        try:
            print(json.dumps(check(line.strip(), signers, schema), ensure_ascii=False))
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the exit code says it
            failed = True
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}, ensure_ascii=False))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
