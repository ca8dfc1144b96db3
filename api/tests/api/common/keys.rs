//! Real key pairs (Ed25519, P-256, RSA) made at test time, their JWKs, and a token builder
//! that can also forge the broken tokens the auth tests need.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{AUDIENCE, ISSUER, TestUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    P256,
    Rsa,
}

pub struct TestKey {
    pub kind: KeyKind,
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    /// The public JWK as served by the JWKS endpoint.
    public_jwk: Value,
    /// The public key's PEM: what an attacker would use as an HMAC secret.
    pub public_pem: String,
}

impl TestKey {
    pub fn jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    pub fn generate(kind: KeyKind) -> Self {
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let mut rng = rand_core08::OsRng;
        match kind {
            KeyKind::Ed25519 => {
                use ed25519_dalek::pkcs8::spki::EncodePublicKey;
                use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
                let signing = ed25519_dalek::SigningKey::generate(&mut rng);
                let pem = signing.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
                let public = signing.verifying_key();
                Self {
                    kind,
                    alg: Algorithm::EdDSA,
                    encoding: EncodingKey::from_ed_pem(pem.as_bytes()).expect("ed key"),
                    public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
                                       "x": URL_SAFE_NO_PAD.encode(public.as_bytes())}),
                    public_pem: public.to_public_key_pem(LineEnding::LF).expect("pem"),
                    kid,
                }
            }
            KeyKind::P256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
                let secret = p256::SecretKey::random(&mut rng);
                let pem = secret.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
                let public = secret.public_key();
                let point = public.to_encoded_point(false);
                Self {
                    kind,
                    alg: Algorithm::ES256,
                    encoding: EncodingKey::from_ec_pem(pem.as_bytes()).expect("ec key"),
                    public_jwk: json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
                                       "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
                                       "y": URL_SAFE_NO_PAD.encode(point.y().expect("y"))}),
                    public_pem: public.to_public_key_pem(LineEnding::LF).expect("pem"),
                    kid,
                }
            }
            KeyKind::Rsa => {
                use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
                use rsa::traits::PublicKeyParts;
                let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa key");
                let pem = private.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
                let public = private.to_public_key();
                Self {
                    kind,
                    alg: Algorithm::RS256,
                    encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa key"),
                    public_jwk: json!({"kty": "RSA", "alg": "RS256", "kid": kid,
                                       "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                                       "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())}),
                    public_pem: public.to_public_key_pem(LineEnding::LF).expect("pem"),
                    kid,
                }
            }
        }
    }
}

static ED25519: LazyLock<Arc<TestKey>> =
    LazyLock::new(|| Arc::new(TestKey::generate(KeyKind::Ed25519)));
static P256: LazyLock<Arc<TestKey>> = LazyLock::new(|| Arc::new(TestKey::generate(KeyKind::P256)));
static RSA: LazyLock<Arc<TestKey>> = LazyLock::new(|| Arc::new(TestKey::generate(KeyKind::Rsa)));

/// One key of each kind per test binary (RSA generation is the slow part).
pub fn ed25519() -> Arc<TestKey> {
    ED25519.clone()
}
pub fn p256() -> Arc<TestKey> {
    P256.clone()
}
pub fn rsa() -> Arc<TestKey> {
    RSA.clone()
}

/// Claims as Better Auth issues them, with knobs to break each one.
pub struct TokenBuilder<'a> {
    key: &'a TestKey,
    pub claims: serde_json::Map<String, Value>,
    pub header: Header,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl<'a> TokenBuilder<'a> {
    pub fn new(key: &'a TestKey, user: &TestUser) -> Self {
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let claims = json!({
            "sub": user.id, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now(), "exp": now() + 900,
            "id": user.id, "email": user.email, "name": user.name, "emailVerified": false,
        });
        let Value::Object(claims) = claims else {
            unreachable!("json! object")
        };
        Self {
            key,
            claims,
            header,
        }
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    pub fn kid(mut self, kid: &str) -> Self {
        self.header.kid = Some(kid.to_owned());
        self
    }

    pub fn sign(&self) -> String {
        jsonwebtoken::encode(&self.header, &self.claims, &self.key.encoding).expect("sign")
    }

    /// `alg: none`: no signature at all.
    pub fn unsigned(&self) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.key.kid});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.claims.clone()).to_string())
        )
    }

    /// HS256 with the public key as the HMAC secret: the classic algorithm-confusion attack.
    pub fn hmac_with_public_key(&self) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.key.kid.clone());
        jsonwebtoken::encode(
            &header,
            &self.claims,
            &EncodingKey::from_secret(self.key.public_pem.as_bytes()),
        )
        .expect("sign")
    }
}

/// Replaces the payload of a signed token, keeping its header and signature.
pub fn tamper_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

/// Flips one bit of the signature.
pub fn tamper_signature(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    sig[0] ^= 0x01;
    format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig))
}
