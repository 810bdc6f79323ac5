"""The signatures reproduce the wire document's worked examples byte for byte (§2.4 and §3.4)."""

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream import signing

# RFC 8032 §7.1 test vector 1: a published test key, not a secret.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
EMPTY_DIGEST = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def rfc8032_signer() -> signing.Signer:
    return signing.Signer(Ed25519PrivateKey.from_private_bytes(RFC8032_SEED))


def test_v1_body_is_serialised_like_the_sdk() -> None:
    body = signing.encode_body(
        {
            "query_type": "project",
            "query_method": "GET",
            "values": {"uid": None, "payload": {"include_labels_metadata": True}},
        }
    )
    assert body == (
        b'{"query_type": "project", "query_method": "GET", '
        b'"values": {"uid": null, "payload": {"include_labels_metadata": true}}}'
    )
    assert len(body) == 119
    assert hashlib.sha256(body).hexdigest() == "56ee66956bbb7403f4f2eb9ede87ecbfee2fdd82cf1805d7a43704ec7cb6e63c"


def test_v1_authorization_matches_worked_example() -> None:
    body = (
        b'{"query_type": "project", "query_method": "GET", '
        b'"values": {"uid": null, "payload": {"include_labels_metadata": true}}}'
    )
    assert signing.v1_authorization(rfc8032_signer(), body) == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a:"
        "8d142ce3733c58b7cf3fbb853b298485368fc84c71de90fabfed2363ae0e2fa2"
        "0d22ea39249c5274cb0f7cbe3756d25a28220dd4105605c8d46fe67416a6890b"
    )


def test_v2_get_signature_matches_worked_example_1() -> None:
    target = "/v2/public/projects/00000000-0000-0000-0000-000000000001"
    params = signing.signature_params(1700000000, RFC8032_PUBLIC)
    base = signing.signature_base("GET", target, EMPTY_DIGEST, params)
    assert len(base) == 337
    assert hashlib.sha256(base).hexdigest() == "c4c37e8334b7d9339fe784c82740fcf22e83b2588872785faeca530dca6ba9f8"
    headers = signing.v2_signature_headers(rfc8032_signer(), "GET", target, b"", 1700000000)
    assert headers == {
        "Content-Digest": EMPTY_DIGEST,
        "Signature-Input": 'encord-sig=("@method" "@request-target" "content-digest");created=1700000000;'
        'keyid="d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";alg="ed25519"',
        "Signature": "encord-sig=:Dufxp5gTMQc/68ljNUSMZ1QOL1gnI8Ie3fLfsVU/9M0Lec/kcVBesbJ8GxYSwfuVhwhfhcTTp2wzSbyAH6XwBQ==:",
    }


def test_v2_post_signature_matches_worked_example_2() -> None:
    body = signing.encode_body({"name": "F", "description": "desc", "clientMetadata": '{"a": 1}'})
    assert len(body) == 68
    headers = signing.v2_signature_headers(rfc8032_signer(), "POST", "/v2/public/storage/folders", body, 1700000000)
    assert headers["Content-Digest"] == "sha-256=:9UhS3AdSpQehi93UJXP396uOjdnXxP2a3I1la3QiSfE=:"
    assert headers["Signature"] == (
        "encord-sig=:N40oN2ySC1N0HlCIbqYE6ACNwveNujdsLI47/hRwfZ3OqYHiFFR/UdLanOvgm69TumRhsbbPQXJKycgr+hANAQ==:"
    )


def test_v2_query_signature_matches_worked_example_3() -> None:
    target = "/v2/public/storage/folders?search=a+b%26c&isRecursive=False&order=name&desc=False&pageSize=100"
    params = signing.signature_params(1700000000, RFC8032_PUBLIC)
    assert len(signing.signature_base("GET", target, EMPTY_DIGEST, params)) == 375
    headers = signing.v2_signature_headers(rfc8032_signer(), "GET", target, b"", 1700000000)
    assert headers["Signature"] == (
        "encord-sig=:LyyIIML8Kz1nm3l/ahsxRiYRfIKJL+9TQdrK0YH5HXaT3hfDDw/rc9/OoDEs9idLQs9P7kyBQgksyle4GYuzDA==:"
    )


def test_verify_rejects_a_flipped_signature_bit() -> None:
    signer = rfc8032_signer()
    sig = bytearray(signer.sign(b"payload"))
    assert signing.verify(signer.public_key_hex, bytes(sig), b"payload")
    sig[0] ^= 1
    assert not signing.verify(signer.public_key_hex, bytes(sig), b"payload")


def test_signer_repr_shows_only_the_public_key() -> None:
    assert repr(rfc8032_signer()) == f"Signer(public_key_hex={RFC8032_PUBLIC!r})"
