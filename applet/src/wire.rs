//! The single definition of every wire constant of the APDU contract
//! (`shared/spec/applet-apdu.md`, version 1.1): AID, classes, instructions,
//! references, file identifiers, tags and status words. The host crate imports
//! these; nothing else declares them.

pub use iso7816::Status;

/// Version of the APDU contract this applet implements: major (in the
/// version object `C0`) …
pub const CONTRACT_VERSION: u8 = 1;
/// … and minor (the object `C7`; a card without it implements `n.0`).
/// Contract 1.1 adds PSO: COMPUTE DIGITAL SIGNATURE with its own PIN2.
pub const CONTRACT_MINOR: u8 = 1;
/// Applet version reported in GET DATA (major, minor).
pub const APPLET_VERSION: [u8; 2] = [0, 2];

/// Application identifier: proprietary (ISO 7816-5 category F), "ASANIMZA", version 01.
pub const AID: [u8; 10] = [0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01];

/// Historical bytes marker carried in the virtual card's ATR.
pub const HISTORICAL_MARKER: &[u8; 8] = b"ASANIMZA";

/// Class bytes.
pub mod cla {
    /// Interindustry class, no secure messaging.
    pub const ISO: u8 = 0x00;
    /// Command chaining bit: more parts follow.
    pub const CHAIN: u8 = 0x10;
    /// GlobalPlatform proprietary class (INITIALIZE UPDATE).
    pub const GP: u8 = 0x80;
    /// GlobalPlatform class with secure messaging (SCP03 C-MAC).
    pub const GP_SECURE: u8 = 0x84;
    /// Secure messaging indication bit of the GlobalPlatform class.
    pub const SM_BIT: u8 = 0x04;
    /// Logical channel bits (only channel 0 is supported).
    pub const CHANNEL_MASK: u8 = 0x03;
}

/// Instruction bytes.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// READ BINARY.
    pub const READ_BINARY: u8 = 0xB0;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// CHANGE REFERENCE DATA.
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// RESET RETRY COUNTER (user, CLA 00) and set PIN value (operator, P1 02).
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    /// MANAGE SECURITY ENVIRONMENT.
    pub const MSE: u8 = 0x22;
    /// INTERNAL AUTHENTICATE.
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// PERFORM SECURITY OPERATION.
    pub const PSO: u8 = 0x2A;
    /// GENERATE ASYMMETRIC KEY PAIR (P1 80 generate, operator) / GET PUBLIC KEY (P1 81).
    pub const GENERATE_ASYMMETRIC_KEY_PAIR: u8 = 0x47;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCA;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// PUT DATA (operator: retry limit, certificate, service).
    pub const PUT_DATA: u8 = 0xDA;
    /// ACTIVATE FILE (operator: life cycle 03 → 05).
    pub const ACTIVATE: u8 = 0x44;
    /// TERMINATE CARD USAGE (operator: → 0F).
    pub const TERMINATE: u8 = 0xFE;
    /// PUT KEY (operator: SCP03 key set).
    pub const PUT_KEY: u8 = 0xD8;
    /// GlobalPlatform INITIALIZE UPDATE.
    pub const INITIALIZE_UPDATE: u8 = 0x50;
    /// GlobalPlatform EXTERNAL AUTHENTICATE.
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
}

/// P1/P2 values.
pub mod p {
    /// SELECT P1: by DF name (AID).
    pub const SELECT_BY_NAME: u8 = 0x04;
    /// SELECT P1: EF by file identifier.
    pub const SELECT_EF: u8 = 0x02;
    /// SELECT P2: return FCI / FCP.
    pub const SELECT_RETURN_FCI: u8 = 0x00;
    /// SELECT P2 for an EF: return FCP.
    pub const SELECT_RETURN_FCP: u8 = 0x04;
    /// SELECT P2: no response data.
    pub const SELECT_NO_DATA: u8 = 0x0C;
    /// VERIFY P1: check or status query.
    pub const VERIFY_CHECK: u8 = 0x00;
    /// VERIFY P1: log out (clear the PIN's security status).
    pub const VERIFY_LOGOUT: u8 = 0xFF;
    /// RESET RETRY COUNTER P1: PUK and new PIN.
    pub const RESET_WITH_NEW_PIN: u8 = 0x00;
    /// RESET RETRY COUNTER P1: PUK only, PIN unchanged.
    pub const RESET_KEEP_PIN: u8 = 0x01;
    /// Operator P1 of INS 2C: set a PIN or PUK value.
    pub const SET_PIN_VALUE: u8 = 0x02;
    /// MSE P1: SET for computation (digital signature / authentication).
    pub const MSE_SET: u8 = 0x41;
    /// MSE P2: authentication template.
    pub const MSE_AT: u8 = 0xA4;
    /// MSE P2: digital signature template.
    pub const MSE_DST: u8 = 0xB6;
    /// PSO P1 P2: COMPUTE DIGITAL SIGNATURE.
    pub const PSO_CDS: [u8; 2] = [0x9E, 0x9A];
    /// PSO P1 P2: COMPUTE DIGITAL SIGNATURE carrying its own PIN2 and key
    /// reference (contract 1.1).
    pub const PSO_CDS_WITH_PIN: [u8; 2] = [0x9E, 0xAC];
    /// INS 47 P1: generate a key pair (operator).
    pub const KEY_GENERATE: u8 = 0x80;
    /// INS 47 P1: read the public key.
    pub const KEY_READ_PUBLIC: u8 = 0x81;
    /// PUT DATA P1: set a retry limit (P2 = PIN reference).
    pub const PUT_RETRY_LIMIT: u8 = 0x01;
    /// PUT DATA P1 P2: service type and state.
    pub const PUT_SERVICE: [u8; 2] = [0x00, 0x43];
    /// PUT KEY P2: key identifier 1, several keys in the command.
    pub const PUT_KEY_P2: u8 = 0x81;
}

/// Tags.
pub mod tag {
    /// Key reference in an MSE control reference template, and first in
    /// the data of PSO: CDS with PIN2.
    pub const KEY_REFERENCE: u8 = 0x84;
    /// The PIN2 block in the data of PSO: CDS with PIN2.
    pub const PIN_BLOCK: u8 = 0x81;
    /// The digest in the data of PSO: CDS with PIN2.
    pub const DIGEST: u8 = 0x90;
    /// Public key template (two bytes).
    pub const PUBLIC_KEY_TEMPLATE: [u8; 2] = [0x7F, 0x49];
    /// EC public point inside the public key template.
    pub const EC_POINT: u8 = 0x86;
    /// File control information template (SELECT applet).
    pub const FCI: u8 = 0x6F;
    /// DF name inside the FCI.
    pub const DF_NAME: u8 = 0x84;
    /// Proprietary data inside the FCI.
    pub const FCI_PROPRIETARY: u8 = 0xA5;
    /// File control parameters template (SELECT EF).
    pub const FCP: u8 = 0x62;
    /// File size inside the FCP.
    pub const FILE_SIZE: u8 = 0x80;
    /// File identifier inside the FCP.
    pub const FILE_ID: u8 = 0x83;
}

/// GET DATA objects (`00 CA 00 tag`); each answers the whole TLV.
pub mod data_object {
    /// Applet version: major, minor, contract version (3 bytes).
    pub const VERSION: u8 = 0xC0;
    /// Card serial number (8 bytes).
    pub const SERIAL: u8 = 0xC1;
    /// Life cycle state (1 byte, ISO 7816-4 LCS).
    pub const LIFE_CYCLE: u8 = 0xC2;
    /// Service type and state (2 bytes); absent until the operator sets it.
    pub const SERVICE: u8 = 0xC3;
    /// PIN status: for PIN1, PIN2 and PUK, four bytes each:
    /// reference, tries left, retry limit, 01 if a value is set.
    pub const PIN_STATUS: u8 = 0xC4;
    /// Keys and certificates: for each of the six key references four bytes:
    /// key reference, 01 if the key pair exists, certificate length (2 bytes, 0 = none).
    pub const OBJECTS: u8 = 0xC5;
    /// SCP03 key version and sequence counter (4 bytes).
    pub const SECURE_CHANNEL: u8 = 0xC6;
    /// Minor version of the APDU contract (1 byte); absent on a card that
    /// implements version `n.0` of its major version (`C0`).
    pub const CONTRACT_MINOR: u8 = 0xC7;
    /// All of the above in one constructed object.
    pub const ALL: u8 = 0x6E;
}

/// PIN references (P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
pub mod pin_ref {
    /// PIN1, authentication.
    pub const PIN1: u8 = 0x81;
    /// PIN2, signing.
    pub const PIN2: u8 = 0x82;
    /// PUK, unblocks PIN1 and PIN2.
    pub const PUK: u8 = 0x83;
}

/// Size limits.
pub mod limits {
    /// Largest certificate file.
    pub const MAX_CERTIFICATE: usize = 4096;
    /// Largest command data after chaining and unwrapping.
    pub const MAX_COMMAND_DATA: usize = 4096;
    /// Length of a PIN block.
    pub const PIN_BLOCK: usize = 8;
    /// Length of a raw P-256 signature `r || s`.
    pub const SIGNATURE: usize = 64;
    /// Length of the PSO: CDS digest.
    pub const SIGN_DIGEST: usize = 32;
    /// Shortest INTERNAL AUTHENTICATE digest.
    pub const AUTH_DIGEST_MIN: usize = 20;
    /// Longest INTERNAL AUTHENTICATE digest.
    pub const AUTH_DIGEST_MAX: usize = 64;
}
