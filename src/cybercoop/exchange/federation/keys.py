"""A node's federation keys: an Ed25519 key that signs what the node sends, an X25519 key that envelopes
are encrypted to; and a peer's public half of both, as the directory lists it (EXCHANGE.md, Directory).

Every key that enters through here is rebuilt from its raw key material, so its JWK, its `kid` (the
RFC 7638 thumbprint) and its `use` are always consistent, whatever the file or directory said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from joserfc.jwk import OKPKey

# JWS algorithm of RFC 9864 ("EdDSA" names the same thing but is deprecated and warns in joserfc).
SIGNING_ALGORITHM: Final = "Ed25519"
SIGNING_CURVE: Final = "Ed25519"
# X25519 rather than P-256: fixed-length keys with no point validation to get wrong (the 2017 invalid-curve
# attacks on ECDH-ES in several JOSE libraries needed a NIST curve), and the same family as the signing key.
KEY_AGREEMENT_ALGORITHM: Final = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION_ALGORITHM: Final = "A256GCM"
ENCRYPTION_CURVE: Final = "X25519"

PRIVATE_FORMAT = "cybercoop-node-keys/1"  # marks the JSON `to_private_json` writes, so a wrong file is refused
MAX_NODE_ID_LENGTH = 100

Use = Literal["sig", "enc"]
Curve = Literal["Ed25519", "X25519"]


class InvalidKey(ValueError):
    """A key that cannot serve where it was offered: wrong type or curve, private where a public key is due
    (or the reverse), a `kid` that is not its thumbprint, or not a JWK at all."""


@dataclass(frozen=True, eq=False, repr=False)
class NodeKeys:
    """This node's private keys. Compared by identity and never printed: the repr names the node and the
    key ids only, so a key cannot leak through a log line, a traceback or an admin page."""

    node_id: str
    signing: OKPKey
    encryption: OKPKey

    def __post_init__(self) -> None:
        check_node_id(self.node_id)
        object.__setattr__(self, "signing", _rebuild(self.signing, use="sig", private=True))
        object.__setattr__(self, "encryption", _rebuild(self.encryption, use="enc", private=True))

    def __repr__(self) -> str:
        return (
            f"NodeKeys(node_id={self.node_id!r}, "
            f"signing_kid={self.signing.kid!r}, encryption_kid={self.encryption.kid!r})"
        )

    __str__ = __repr__

    def public(self) -> PublicKeys:
        """The public half, as a peer sees this node in the directory."""
        return PublicKeys(node_id=self.node_id, signing=self.signing, encryption=self.encryption)


@dataclass(frozen=True, repr=False)
class PublicKeys:
    """A node's public keys: what the directory lists for it and what its envelopes are checked against.
    Built from private keys, it keeps only their public half; built from JWKs, it refuses private ones."""

    node_id: str
    signing: OKPKey
    encryption: OKPKey

    def __post_init__(self) -> None:
        check_node_id(self.node_id)
        object.__setattr__(self, "signing", _rebuild(self.signing, use="sig", private=False))
        object.__setattr__(self, "encryption", _rebuild(self.encryption, use="enc", private=False))

    def __repr__(self) -> str:
        return (
            f"PublicKeys(node_id={self.node_id!r}, "
            f"signing_kid={self.signing.kid!r}, encryption_kid={self.encryption.kid!r})"
        )

    @classmethod
    def from_jwks(cls, data: Mapping[str, Any]) -> PublicKeys:
        """Read what `public_jwks` wrote (or the directory's copy of it); raises InvalidKey when it is not
        exactly one public Ed25519 signing key and one public X25519 encryption key."""
        if not isinstance(data, Mapping):
            raise InvalidKey("public keys must be a JSON object")
        node_id = data.get("node_id")
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(jwk, Mapping) for jwk in keys):
            raise InvalidKey("'keys' must be a list of JWKs")
        by_use = {use: [jwk for jwk in keys if jwk.get("use") == use] for use in ("sig", "enc")}
        if len(keys) != 2 or len(by_use["sig"]) != 1 or len(by_use["enc"]) != 1:
            raise InvalidKey("'keys' must hold one key with use 'sig' and one with use 'enc'")
        return cls(
            node_id=check_node_id(node_id),
            signing=import_key(by_use["sig"][0], use="sig", private=False),
            encryption=import_key(by_use["enc"][0], use="enc", private=False),
        )


def check_node_id(node_id: object) -> str:
    """A node id is a short printable name without spaces; it travels in headers and in every message."""
    if (
        not isinstance(node_id, str)
        or not 0 < len(node_id) <= MAX_NODE_ID_LENGTH
        or not node_id.isprintable()
        or any(c.isspace() for c in node_id)
    ):
        raise InvalidKey(f"a node id is 1 to {MAX_NODE_ID_LENGTH} printable characters without spaces")
    return node_id


def generate(node_id: str) -> NodeKeys:
    """Fresh keys for a node (at `node init`, or to rotate them)."""
    return NodeKeys(
        node_id=node_id,
        signing=OKPKey.generate_key(SIGNING_CURVE),
        encryption=OKPKey.generate_key(ENCRYPTION_CURVE),
    )


def generate_signing_key() -> OKPKey:
    """A lone Ed25519 signing key, such as the Secretariat's directory key (it encrypts nothing)."""
    return _rebuild(OKPKey.generate_key(SIGNING_CURVE), use="sig", private=True)


def to_private_json(keys: NodeKeys) -> str:
    """The node's keys as JSON for its key file. Contains the private keys: write it with mode 0600."""
    return json.dumps(
        {
            "format": PRIVATE_FORMAT,
            "node_id": keys.node_id,
            "signing": dict(keys.signing.as_dict(private=True)),
            "encryption": dict(keys.encryption.as_dict(private=True)),
        },
        indent=2,
        sort_keys=True,
    )


def from_private_json(text: str | bytes) -> NodeKeys:
    """Read a key file written by `to_private_json`; raises InvalidKey for anything else."""
    try:
        data = json.loads(text)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise InvalidKey("the key file is not JSON") from error
    if not isinstance(data, dict) or data.get("format") != PRIVATE_FORMAT:
        raise InvalidKey(f"the key file is not in the {PRIVATE_FORMAT} format")
    return NodeKeys(
        node_id=check_node_id(data.get("node_id")),
        signing=import_key(data.get("signing"), use="sig", private=True),
        encryption=import_key(data.get("encryption"), use="enc", private=True),
    )


def public_jwks(keys: NodeKeys | PublicKeys) -> dict[str, Any]:
    """The public keys as a JWK Set with the node's id: what the node publishes and the directory lists.
    Each JWK carries `kid` (its RFC 7638 thumbprint) and `use` ("sig" or "enc")."""
    return {
        "node_id": keys.node_id,
        "keys": [dict(keys.signing.as_dict(private=False)), dict(keys.encryption.as_dict(private=False))],
    }


def import_key(jwk: object, *, use: Use, private: bool) -> OKPKey:
    """One JWK for `use` ("sig": Ed25519, "enc": X25519), private or public as `private` demands.
    Members other than the key itself must agree with it: `use` with its role, `kid` with its thumbprint,
    `alg` with the algorithm the role uses. Raises InvalidKey, with the reason, for anything else."""
    what = _role(use)
    if not isinstance(jwk, Mapping):
        raise InvalidKey(f"the {what} is not a JWK object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != _curve(use):
        raise InvalidKey(f"the {what} must be an OKP key on the {_curve(use)} curve")
    if private and "d" not in jwk:
        raise InvalidKey(f"the {what} must be a private key")
    if not private and "d" in jwk:
        raise InvalidKey(f"a private key was given where the public {what} is expected")
    if jwk.get("use", use) != use:
        raise InvalidKey(f"the {what} must have use {use!r}")
    if jwk.get("alg", _algorithm(use)) != _algorithm(use):
        raise InvalidKey(f"the {what} must be for the {_algorithm(use)} algorithm")
    material = {name: jwk[name] for name in ("kty", "crv", "x", "d") if name in jwk}
    try:
        parsed = OKPKey.import_key(material)
    except Exception as error:  # joserfc, cryptography and base64 each raise their own: all mean "unusable"
        raise InvalidKey(f"the {what} is not a valid {_curve(use)} key") from error
    key = _rebuild(parsed, use=use, private=private)
    if key.as_dict(private=False)["x"] != jwk.get("x"):
        # For a private key: `x` is not the public half of `d`. For a public one: a non-canonical encoding.
        raise InvalidKey(f"the {what}'s 'x' does not match the key")
    if jwk.get("kid", key.kid) != key.kid:
        raise InvalidKey(f"the {what}'s 'kid' is not its RFC 7638 thumbprint")
    return key


def import_signing_key(jwk: object, *, private: bool = False) -> OKPKey:
    """A lone Ed25519 key from its JWK: the directory key a node pins at `node init`, or its private twin."""
    return import_key(jwk, use="sig", private=private)


def _rebuild(key: object, *, use: Use, private: bool) -> OKPKey:
    """The key rebuilt from its raw material with exactly kty, crv, x (d), kid = thumbprint and use."""
    what = _role(use)
    if not isinstance(key, OKPKey) or key.curve_name != _curve(use):
        raise InvalidKey(f"the {what} must be an OKP key on the {_curve(use)} curve")
    if private:
        if key.private_key is None:
            raise InvalidKey(f"the {what} must be a private key")
        rebuilt = OKPKey.import_key(key.private_key, {"use": use})
    else:
        rebuilt = OKPKey.import_key(key.public_key, {"use": use})
    rebuilt.ensure_kid()
    return rebuilt


def _role(use: Use) -> str:
    return "signing key" if use == "sig" else "encryption key"


def _curve(use: Use) -> Curve:
    return SIGNING_CURVE if use == "sig" else ENCRYPTION_CURVE


def _algorithm(use: Use) -> str:
    return SIGNING_ALGORITHM if use == "sig" else KEY_AGREEMENT_ALGORITHM
