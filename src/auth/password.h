#pragma once
// Password hashes as RabbitMQ stores them, so user definitions move between RabbitMQ and Warren
// unchanged: base64 of a 4-byte random salt followed by hash(salt ++ password), where hash is
// the user's hashing algorithm (rabbit_password_hashing_sha256 by default; _sha512 and _md5
// accepted on import). Verification compares in constant time.
//
//   auto h = auth::hash_password("s3cret");                  // new random salt, SHA-256
//   bool ok = auth::verify_password(h, "s3cret");
//   auto imported = auth::password_hash::parse(b64, "rabbit_password_hashing_sha512");
//
// Pure functions (OpenSSL for the digests, the salt and base64); any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warren::auth {

enum class hash_algorithm { sha256, sha512, md5 };

// RabbitMQ's module name for an algorithm ("rabbit_password_hashing_sha256"), and back.
std::string_view algorithm_name(hash_algorithm a);
std::optional<hash_algorithm> parse_algorithm(std::string_view name);

struct password_hash {
    hash_algorithm algorithm = hash_algorithm::sha256;
    std::string salted;  // salt (4 bytes) ++ digest, raw bytes; empty = no password

    // From RabbitMQ's definitions form: base64 text and algorithm name ("" = sha256).
    static std::optional<password_hash> parse(std::string_view base64,
                                              std::string_view algorithm = "");
    std::string base64() const;
    bool empty() const { return salted.empty(); }
};

// A new hash with a fresh random 4-byte salt.
password_hash hash_password(std::string_view password, hash_algorithm a = hash_algorithm::sha256);
// With a given salt (tests, and checking vectors against RabbitMQ's).
password_hash hash_password_with_salt(std::string_view password, std::string_view salt,
                                      hash_algorithm a);
// False for an empty hash (a user without password logs in only by certificate).
bool verify_password(const password_hash& h, std::string_view password);

}  // namespace warren::auth
