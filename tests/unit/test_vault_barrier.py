"""The barrier's properties, after Vault's barrier tests: confidentiality, integrity, binding, rotation."""

import struct

import pytest
from encord_gateway.vault.barrier import (
    FORMAT_VERSION,
    NONCE_SIZE,
    TAG_SIZE,
    Barrier,
    Keyring,
    RecordIdentity,
)
from encord_gateway.vault.errors import BarrierError, SealedError

PLAINTEXT = b"not a real key, but treated as one: 0123456789abcdef"
IDENTITY = RecordIdentity("org_ssh_key", "acme", "sshkey_0001", 1)


@pytest.fixture
def barrier() -> Barrier:
    return Barrier(Keyring.create())


def test_confidential(barrier: Barrier) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    assert PLAINTEXT not in value
    # Not even a short run of it survives.
    assert all(PLAINTEXT[i : i + 8] not in value for i in range(len(PLAINTEXT) - 8))
    assert barrier.decrypt(IDENTITY, value) == PLAINTEXT


def test_stored_value_layout_is_term_version_nonce_ciphertext(barrier: Barrier) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    assert struct.unpack(">I", value[:4])[0] == 1
    assert value[4] == FORMAT_VERSION
    assert len(value) == 4 + 1 + NONCE_SIZE + len(PLAINTEXT) + TAG_SIZE
    assert Barrier.term_of(value) == 1


def test_integrity_any_flipped_byte_fails(barrier: Barrier) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    for position in range(len(value)):
        tampered = bytearray(value)
        tampered[position] ^= 0x01
        with pytest.raises(BarrierError) as caught:
            barrier.decrypt(IDENTITY, bytes(tampered))
        assert PLAINTEXT.decode() not in str(caught.value)


@pytest.mark.parametrize("length", [0, 3, 4 + 1 + NONCE_SIZE, 4 + 1 + NONCE_SIZE + TAG_SIZE - 1])
def test_integrity_truncated_value_fails(barrier: Barrier, length: int) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    with pytest.raises(BarrierError):
        barrier.decrypt(IDENTITY, value[:length])


def test_integrity_appended_bytes_fail(barrier: Barrier) -> None:
    with pytest.raises(BarrierError):
        barrier.decrypt(IDENTITY, barrier.encrypt(IDENTITY, PLAINTEXT) + b"\x00")


@pytest.mark.parametrize(
    "elsewhere",
    [
        RecordIdentity("resource_api_key", "acme", "sshkey_0001", 1),
        RecordIdentity("org_ssh_key", "other-org", "sshkey_0001", 1),
        RecordIdentity("org_ssh_key", "acme", "sshkey_0002", 1),
        RecordIdentity("org_ssh_key", "acme", "sshkey_0001", 2),
    ],
    ids=["kind", "organisation", "id", "version"],
)
def test_move_integrity(barrier: Barrier, elsewhere: RecordIdentity) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    with pytest.raises(BarrierError):
        barrier.decrypt(elsewhere, value)


def test_move_integrity_field_boundaries_are_unambiguous(barrier: Barrier) -> None:
    # "ab" + "c" and "a" + "bc" must be different identities, or a crafted name could borrow a value.
    first = RecordIdentity("k", "ab", "c", 1)
    second = RecordIdentity("k", "a", "bc", 1)
    assert first.associated_data() != second.associated_data()
    with pytest.raises(BarrierError):
        barrier.decrypt(second, barrier.encrypt(first, PLAINTEXT))


def test_encrypt_unique(barrier: Barrier) -> None:
    values = {barrier.encrypt(IDENTITY, PLAINTEXT) for _ in range(100)}
    assert len(values) == 100
    nonces = {value[5 : 5 + NONCE_SIZE] for value in values}
    assert len(nonces) == 100


def test_rotate_old_term_decrypts_and_new_values_use_new_term(barrier: Barrier) -> None:
    old = barrier.encrypt(IDENTITY, PLAINTEXT)
    assert barrier.rotate() == 2
    new = barrier.encrypt(IDENTITY, PLAINTEXT)
    assert Barrier.term_of(old) == 1
    assert Barrier.term_of(new) == 2
    assert barrier.decrypt(IDENTITY, old) == PLAINTEXT
    assert barrier.decrypt(IDENTITY, new) == PLAINTEXT
    assert barrier.rotate() == 3
    assert barrier.decrypt(IDENTITY, old) == PLAINTEXT


def test_rotate_takes_effect_only_once_persisted() -> None:
    def refuse(_: Keyring) -> None:
        raise OSError("disk full")

    barrier = Barrier(Keyring.create(), persist=refuse)
    with pytest.raises(OSError):
        barrier.rotate()
    assert barrier.active_term == 1
    assert Barrier.term_of(barrier.encrypt(IDENTITY, PLAINTEXT)) == 1


def test_rotate_persists_the_new_keyring() -> None:
    saved: list[Keyring] = []
    barrier = Barrier(Keyring.create(), persist=saved.append)
    old = barrier.encrypt(IDENTITY, PLAINTEXT)
    barrier.rotate()
    restored = Barrier(Keyring.from_bytes(saved[-1].to_bytes()))
    assert restored.active_term == 2
    assert restored.decrypt(IDENTITY, old) == PLAINTEXT


def test_another_keyring_cannot_decrypt(barrier: Barrier) -> None:
    with pytest.raises(BarrierError):
        Barrier(Keyring.create()).decrypt(IDENTITY, barrier.encrypt(IDENTITY, PLAINTEXT))


def test_unknown_term_fails(barrier: Barrier) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    with pytest.raises(BarrierError, match="term 7"):
        barrier.decrypt(IDENTITY, struct.pack(">I", 7) + value[4:])


def test_sealed_barrier_refuses_everything(barrier: Barrier) -> None:
    value = barrier.encrypt(IDENTITY, PLAINTEXT)
    barrier.seal()
    assert barrier.sealed
    with pytest.raises(SealedError):
        barrier.encrypt(IDENTITY, PLAINTEXT)
    with pytest.raises(SealedError):
        barrier.decrypt(IDENTITY, value)
    with pytest.raises(SealedError):
        barrier.rotate()


def test_keyring_repr_shows_no_key_material() -> None:
    keyring = Keyring.create().with_new_term()
    for term in keyring.terms.values():
        assert term.key.hex() not in repr(keyring) + repr(term)
        assert term.key.hex()[:16] not in repr(term)


@pytest.mark.parametrize("garbage", [b"", b"{}", b"not json", b'{"format": 1, "active_term": 1, "terms": []}'])
def test_malformed_keyring_is_refused(garbage: bytes) -> None:
    with pytest.raises(BarrierError):
        Keyring.from_bytes(garbage)
