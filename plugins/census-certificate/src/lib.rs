//! Residence (census) certificates: the city issues a certificate that a person lives at an
//! address since a date, signed with the city's Ed25519 key from its config, and anyone can have
//! a certificate verified; a certificate changed in any field no longer verifies. The HTTP API
//! is in README.md; issuing also serves the `civic:documents/certificates` contract.

use civic_sdk::date::Date;
use civic_sdk::documents::exports as documents;
use civic_sdk::kv::Bucket;
use civic_sdk::{Params, Problem, Request, Response, Router, config};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);
civic_sdk::export!(documents = Contract);

/// The bucket the city's manifest must grant (`keyvalue = ["certificates"]`), for serial numbers.
const BUCKET: &str = "certificates";

fn serve(request: Request) -> Response {
    Router::new()
        .get("/public-key", public_key)
        .post("/certificates", issue)
        .post("/verifications", verify)
        .handle(&request)
}

/// The city's signing key, from config (`signing_key`: 64 hex digits, the Ed25519 seed).
fn signing_key() -> Result<SigningKey, Problem> {
    let text = config::get("signing_key").ok_or_else(|| Problem::internal("config `signing_key` is not set"))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed)
        .map_err(|e| Problem::internal(format_args!("config `signing_key` is not 64 hex digits: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// What the certificate states; its JSON, fields in this order, is what is signed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Certificate {
    kind: String,
    serial: String,
    issuer: String,
    given_name: String,
    family_name: String,
    birth_date: Date,
    address: String,
    resident_since: Date,
    issued_on: Date,
}

impl Certificate {
    fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a certificate encodes as JSON")
    }
}

#[derive(Serialize, Deserialize)]
struct Signed {
    certificate: Certificate,
    /// The Ed25519 signature of the certificate's JSON, as 128 hex digits.
    signature: String,
}

/// `GET /public-key`: what verifiers outside the city check signatures with.
fn public_key(_: &Request, _: &Params) -> Result<Response, Problem> {
    let key = hex::encode(signing_key()?.verifying_key().as_bytes());
    Ok(Response::json(200, &serde_json::json!({ "algorithm": "Ed25519", "public_key": key })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    given_name: String,
    family_name: String,
    birth_date: Date,
    address: String,
    resident_since: Date,
}

/// `POST /certificates`: issues and signs a certificate.
fn issue(request: &Request, _: &Params) -> Result<Response, Problem> {
    Ok(Response::json(201, &sign(request.json()?)?))
}

fn sign(form: Form) -> Result<Signed, Problem> {
    for (field, value) in
        [("given_name", &form.given_name), ("family_name", &form.family_name), ("address", &form.address)]
    {
        if value.trim().is_empty() || value.chars().count() > 200 {
            return Err(Problem::invalid(field, "must be 1 to 200 characters"));
        }
    }
    let today = Date::today();
    if form.birth_date > today {
        return Err(Problem::invalid("birth_date", "is in the future"));
    }
    if form.resident_since > today || form.resident_since < form.birth_date {
        return Err(Problem::invalid("resident_since", "must lie between the birth date and today"));
    }
    let key = signing_key()?;
    let issuer = config::get("issuer").ok_or_else(|| Problem::internal("config `issuer` is not set"))?;
    let serial = Bucket::open(BUCKET)?.increment("next-serial", 1)?;
    let certificate = Certificate {
        kind: "residence-certificate".to_owned(),
        serial: format!("{serial:08}"),
        issuer,
        given_name: form.given_name.trim().to_owned(),
        family_name: form.family_name.trim().to_owned(),
        birth_date: form.birth_date,
        address: form.address.trim().to_owned(),
        resident_since: form.resident_since,
        issued_on: today,
    };
    let signature = hex::encode(key.sign(&certificate.signed_bytes()).to_bytes());
    Ok(Signed { certificate, signature })
}

#[derive(Serialize)]
struct Verdict {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// `POST /verifications` with a signed certificate: whether this city signed exactly it.
fn verify(request: &Request, _: &Params) -> Result<Response, Problem> {
    let signed: Signed = request.json()?;
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(signed.signature.trim(), &mut bytes)
        .map_err(|_| Problem::invalid("signature", "must be 128 hex digits"))?;
    let key = signing_key()?.verifying_key();
    let valid = key.verify(&signed.certificate.signed_bytes(), &Signature::from_bytes(&bytes)).is_ok();
    let reason = (!valid).then_some("the signature does not match this certificate and this city's key");
    Ok(Response::json(200, &Verdict { valid, reason }))
}

/// `civic:documents/certificates`: the same certificate as `POST /certificates`.
struct Contract;

impl documents::Guest for Contract {
    fn issue_residence_certificate(
        request: documents::ResidenceRequest,
    ) -> Result<documents::Signed, documents::Failure> {
        let date = |field: &str, text: &str| {
            Date::parse(text).ok_or_else(|| Problem::invalid(field, "must be a date written like 2026-03-14"))
        };
        let Signed { certificate: c, signature } = sign(Form {
            birth_date: date("birth-date", &request.birth_date)?,
            resident_since: date("resident-since", &request.resident_since)?,
            given_name: request.given_name,
            family_name: request.family_name,
            address: request.address,
        })?;
        Ok(documents::Signed {
            certificate: documents::ResidenceCertificate {
                serial: c.serial,
                issuer: c.issuer,
                given_name: c.given_name,
                family_name: c.family_name,
                birth_date: c.birth_date.to_string(),
                address: c.address,
                resident_since: c.resident_since.to_string(),
                issued_on: c.issued_on.to_string(),
            },
            algorithm: "Ed25519".to_owned(),
            signature,
        })
    }
}
