"""Security: broken ciphers, ECB mode and short asymmetric keys (SEC026, SEC027)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant

# -- SEC026 ------------------------------------------------------------------------------------

_CRYPTOGRAPHY_ALGORITHMS = (
    "cryptography.hazmat.primitives.ciphers.algorithms",
    "cryptography.hazmat.decrepit.ciphers.algorithms",
)
# Algorithm -> (its name in a message, why it is broken, severity).
_BROKEN = {
    "ARC4": ("RC4", "its keystream is biased: plaintext is recovered from enough traffic"),
    "DES": ("DES", "its 56-bit key is brute-forced in hours"),
    "XOR": ("XOR", "it is not a cipher: one known plaintext reveals the key"),
    "ARC2": ("RC2", "its key schedule is broken (related-key attacks)"),
}
_SIXTY_FOUR_BIT = {
    "TripleDES": "3DES",
    "DES3": "3DES",
    "Blowfish": "Blowfish",
    "CAST5": "CAST5",
    "CAST": "CAST5",
    "IDEA": "IDEA",
    "SEED": "SEED",
}
_SWEET32 = "blocks collide after about 32 GB under one key (Sweet32), leaking plaintext"
_CIPHER_CALLS = {
    **{f"{module}.{name}": name for module in _CRYPTOGRAPHY_ALGORITHMS for name in _BROKEN},
    **{f"{module}.{name}": name for module in _CRYPTOGRAPHY_ALGORITHMS for name in _SIXTY_FOUR_BIT},
    **{
        f"{package}.Cipher.{name}.new": name
        for package in ("Crypto", "Cryptodome")
        for name in ("ARC4", "DES", "XOR", "ARC2", "DES3", "Blowfish", "CAST")
    },
    "pyDes.des": "DES",
    "pyDes.triple_des": "DES3",
}
_ECB_MODES = (
    "cryptography.hazmat.primitives.ciphers.modes.ECB",
    *(
        f"{package}.Cipher.{name}.MODE_ECB"
        for package in ("Crypto", "Cryptodome")
        for name in ("AES", "DES", "DES3", "Blowfish", "CAST", "ARC2")
    ),
)


def _ecb_argument(node: ast.Attribute, ctx: PythonContext) -> bool:
    """``AES.MODE_ECB`` chooses the mode of a cipher: an argument of a call (``AES.new(key,
    AES.MODE_ECB)``) or a value assigned to a name -- not a comparison or a table key."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.keyword):
        parent = ctx.parent(parent)
    if isinstance(parent, ast.Call):
        return parent.func is not node
    return isinstance(parent, ast.Assign) and parent.value is node


@python_rule(
    code="SEC026",
    name="weak-cipher",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Data encrypted with a broken cipher (DES, RC4, 3DES, Blowfish...) or in ECB mode",
    calls=(*_CIPHER_CALLS, "cryptography.hazmat.primitives.ciphers.modes.ECB"),
    attributes=tuple(mode for mode in _ECB_MODES if "MODE_ECB" in mode),
    cwe=327,
    fix="Use AES-GCM or ChaCha20-Poly1305 (cryptography's AESGCM/ChaCha20Poly1305, or Fernet).",
)
def weak_cipher(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags encryption with broken algorithms -- RC4 (`ARC4`), DES, RC2, XOR -- and with 64-bit
    block ciphers (3DES/`TripleDES`, Blowfish, CAST5, IDEA, SEED, reported medium), in
    cryptography (`algorithms.*`), pycryptodome/PyCrypto (`Crypto.Cipher.*.new`,
    `Cryptodome.Cipher.*.new`) and pyDes; and ECB mode in any of them (`modes.ECB()`,
    `AES.new(key, AES.MODE_ECB)`), reported medium. Test files are skipped.

    ## Why it breaks production
    DES keys are brute-forced in hours, RC4's keystream biases recover plaintext from
    traffic, XOR is not encryption. 64-bit block ciphers repeat blocks after a few dozen
    gigabytes under one key (Sweet32), which a long-lived service key reaches. ECB encrypts
    equal blocks to equal ciphertext: the structure of the data shows through (the classic
    encrypted penguin), and blocks can be cut and pasted between messages undetected. Data
    encrypted this way is stored for years -- it outlives the code that wrote it.

    ## Example
    ```python
    cipher = Cipher(algorithms.TripleDES(key), modes.ECB())
    token = cipher.encryptor().update(card_number.ljust(16).encode())
    ```

    ## Use instead
    ```python
    aead = AESGCM(key)  # 256-bit key from AESGCM.generate_key()
    nonce = os.urandom(12)
    token = nonce + aead.encrypt(nonce, card_number.encode(), None)
    ```
    """
    if ctx.facts.is_test:
        return
    reported: set[int] = ctx.rule_state(set, module=True)  # one finding per line
    line = getattr(node, "lineno", 0)
    if line in reported:
        return
    reported.add(line)
    if isinstance(node, ast.Attribute):
        if _ecb_argument(node, ctx):
            ctx.report(
                node,
                "ECB mode encrypts equal blocks to equal ciphertext: the structure of the data "
                "shows through and blocks can be swapped between messages unnoticed. Use an "
                "authenticated mode (AES-GCM: AES.new(key, AES.MODE_GCM))",
                severity=Severity.MEDIUM,
            )
        return
    if not isinstance(node, ast.Call):
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee.endswith(".ECB"):
        ctx.report(
            node,
            "ECB mode encrypts equal blocks to equal ciphertext: the structure of the data "
            "shows through and blocks can be swapped between messages unnoticed. Use an "
            "authenticated mode (AESGCM, or modes.GCM with AES)",
            severity=Severity.MEDIUM,
        )
        return
    algorithm = _CIPHER_CALLS.get(callee)
    if algorithm is None:
        return
    if algorithm in _BROKEN:
        label, why = _BROKEN[algorithm]
        ctx.report(
            node,
            f"{label} is broken: {why}. Encrypt with AES-GCM or ChaCha20-Poly1305 "
            "(cryptography's AESGCM, or Fernet)",
        )
        return
    ctx.report(
        node,
        f"{_SIXTY_FOUR_BIT[algorithm]} is a 64-bit block cipher: {_SWEET32}. Encrypt with "
        "AES-GCM or ChaCha20-Poly1305 (cryptography's AESGCM, or Fernet)",
        severity=Severity.MEDIUM,
    )


# -- SEC027 ------------------------------------------------------------------------------------

_MINIMUM_BITS = 2048
# Key generators -> (the algorithm, the position and name of the size argument).
_KEY_GENERATORS = {
    "cryptography.hazmat.primitives.asymmetric.rsa.generate_private_key": ("RSA", 1, "key_size"),
    "cryptography.hazmat.primitives.asymmetric.dsa.generate_private_key": ("DSA", 0, "key_size"),
    "cryptography.hazmat.primitives.asymmetric.dsa.generate_parameters": ("DSA", 0, "key_size"),
    "cryptography.hazmat.primitives.asymmetric.dh.generate_parameters": ("DH", 1, "key_size"),
    **{
        f"{package}.PublicKey.{name}.generate": (name, 0, "bits")
        for package in ("Crypto", "Cryptodome")
        for name in ("RSA", "DSA")
    },
    "paramiko.RSAKey.generate": ("RSA", 0, "bits"),
    "paramiko.rsakey.RSAKey.generate": ("RSA", 0, "bits"),
    "paramiko.DSSKey.generate": ("DSA", 0, "bits"),
    "paramiko.dsskey.DSSKey.generate": ("DSA", 0, "bits"),
    "rsa.newkeys": ("RSA", 0, "nbits"),
}
# paramiko's DSSKey.generate() defaults to 1024 bits: the call without a size is short too.
_DEFAULT_BITS = {"paramiko.DSSKey.generate": 1024, "paramiko.dsskey.DSSKey.generate": 1024}
_EC_GENERATORS = frozenset(
    {
        "cryptography.hazmat.primitives.asymmetric.ec.generate_private_key",
        "cryptography.hazmat.primitives.asymmetric.ec.derive_private_key",
    }
)
# Curves whose order is below 224 bits (about 80-96 bits of security).
_WEAK_CURVES = frozenset({"SECP192R1", "SECT163K1", "SECT163R2", "SECP160R1", "SECT193R1"})


def _key_bits(expr: ast.expr | None, ctx: PythonContext) -> int | None:
    """An integer size: a literal, or a name bound to one (a module constant)."""
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    value = constant(expr)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@python_rule(
    code="SEC027",
    name="weak-key-size",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="RSA/DSA/DH key shorter than 2048 bits, or an elliptic curve below 224 bits",
    calls=(*_KEY_GENERATORS, *_EC_GENERATORS),
    cwe=326,
    fix="Generate RSA/DSA keys of at least 2048 bits (3072 for keys that live past 2030), "
    "or use Ed25519 / an EC curve of 256 bits.",
)
def weak_key_size(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags asymmetric keys generated too short: RSA, DSA and Diffie-Hellman sizes below 2048
    bits in cryptography (`rsa/dsa.generate_private_key`, `dh.generate_parameters`),
    pycryptodome/PyCrypto (`RSA.generate`, `DSA.generate`), paramiko (`RSAKey.generate`,
    `DSSKey.generate`, whose default is 1024 bits) and python-rsa (`rsa.newkeys`); and EC keys
    on curves below 224 bits (`SECP192R1`, `SECT163K1/R2`). Sizes below 1024 bits are high,
    1024-2047 medium. Sizes held in variables the rule cannot resolve are left alone. Test
    files are skipped.

    ## Why it breaks production
    512-bit RSA is factored in hours on rented machines and 768-bit keys have been publicly
    factored; NIST disallowed 1024-bit RSA/DSA for signatures after 2013. A key generated
    today signs tokens, certificates or backups that must stay unforgeable for years, and
    clients, browsers and compliance scanners increasingly refuse short keys outright -- the
    service's TLS or SSH handshake then fails.

    ## Example
    ```python
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ```

    ## Use instead
    ```python
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    # or: key = ed25519.Ed25519PrivateKey.generate()
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee in _EC_GENERATORS:
        curve = argument(node, 0, "curve")
        if isinstance(curve, ast.Call):
            curve = curve.func  # ``ec.SECP192R1()``
        name = ctx.qualname(curve) if isinstance(curve, ast.Attribute | ast.Name) else None
        short = (name or "").rsplit(".", 1)[-1]
        if name and "cryptography" in name and short in _WEAK_CURVES:
            ctx.report(
                node,
                f"EC key on {short}, a curve below 224 bits (about 80-96 bits of security): "
                "too short for keys that must stay unforgeable. Use SECP256R1/SECP384R1 or "
                "Ed25519",
                severity=Severity.MEDIUM,
            )
        return
    generator = _KEY_GENERATORS.get(callee)
    if generator is None:
        return
    algorithm, position, keyword = generator
    size = argument(node, position, keyword)
    bits = _key_bits(size, ctx) if size is not None else _DEFAULT_BITS.get(callee)
    if bits is None or bits >= _MINIMUM_BITS:
        return
    shown = f"{bits}-bit" if size is not None else f"{bits}-bit (the default)"
    if bits < 1024:
        ctx.report(
            node,
            f"{shown} {algorithm} key: keys this short are factored in hours on rented "
            "machines. Use at least 2048 bits (3072 for long-lived keys) or Ed25519",
        )
        return
    ctx.report(
        node,
        f"{shown} {algorithm} key: below the 2048-bit minimum (NIST has disallowed 1024-bit "
        "RSA/DSA/DH since 2013) and refused by a growing number of clients. Use at "
        "least 2048 bits (3072 for long-lived keys) or Ed25519",
        severity=Severity.MEDIUM,
    )
