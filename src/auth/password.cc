#include "auth/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

namespace warren::auth {

namespace {

constexpr size_t salt_size = 4;

const EVP_MD* digest_of(hash_algorithm a) {
    switch (a) {
        case hash_algorithm::sha256:
            return EVP_sha256();
        case hash_algorithm::sha512:
            return EVP_sha512();
        case hash_algorithm::md5:
            return EVP_md5();
    }
    return EVP_sha256();
}

std::string digest(hash_algorithm a, std::string_view salt, std::string_view password) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int n = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, digest_of(a), nullptr);
    EVP_DigestUpdate(ctx, salt.data(), salt.size());
    EVP_DigestUpdate(ctx, password.data(), password.size());
    EVP_DigestFinal_ex(ctx, out.data(), &n);
    EVP_MD_CTX_free(ctx);
    return std::string(reinterpret_cast<const char*>(out.data()), n);
}

std::optional<std::string> decode_base64(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    size_t pad = 0;  // EVP_DecodeBlock counts padding as zero bytes
    if (!in.empty() && in.back() == '=') ++pad;
    if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

}  // namespace

std::string_view algorithm_name(hash_algorithm a) {
    switch (a) {
        case hash_algorithm::sha256:
            return "rabbit_password_hashing_sha256";
        case hash_algorithm::sha512:
            return "rabbit_password_hashing_sha512";
        case hash_algorithm::md5:
            return "rabbit_password_hashing_md5";
    }
    return "rabbit_password_hashing_sha256";
}

std::optional<hash_algorithm> parse_algorithm(std::string_view name) {
    if (name.empty() || name == "rabbit_password_hashing_sha256") return hash_algorithm::sha256;
    if (name == "rabbit_password_hashing_sha512") return hash_algorithm::sha512;
    if (name == "rabbit_password_hashing_md5") return hash_algorithm::md5;
    return std::nullopt;
}

std::optional<password_hash> password_hash::parse(std::string_view base64,
                                                  std::string_view algorithm) {
    auto a = parse_algorithm(algorithm);
    if (!a) return std::nullopt;
    password_hash h;
    h.algorithm = *a;
    if (base64.empty()) return h;  // no password
    auto raw = decode_base64(base64);
    if (!raw || raw->size() != salt_size + static_cast<size_t>(EVP_MD_size(digest_of(*a))))
        return std::nullopt;
    h.salted = std::move(*raw);
    return h;
}

std::string password_hash::base64() const {
    if (salted.empty()) return {};
    std::string out(4 * ((salted.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(salted.data()),
                            static_cast<int>(salted.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

password_hash hash_password_with_salt(std::string_view password, std::string_view salt,
                                      hash_algorithm a) {
    password_hash h;
    h.algorithm = a;
    h.salted.assign(salt);
    h.salted += digest(a, salt, password);
    return h;
}

password_hash hash_password(std::string_view password, hash_algorithm a) {
    unsigned char salt[salt_size];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        // No entropy is a broken machine, not a reason to store a guessable salt quietly:
        // fall back to the OS generator through OpenSSL's default again.
        RAND_poll();
        RAND_bytes(salt, sizeof salt);
    }
    return hash_password_with_salt(
        password, std::string_view(reinterpret_cast<const char*>(salt), sizeof salt), a);
}

bool verify_password(const password_hash& h, std::string_view password) {
    if (h.salted.size() <= salt_size) return false;
    std::string_view salt(h.salted.data(), salt_size);
    std::string want = digest(h.algorithm, salt, password);
    std::string_view have(h.salted.data() + salt_size, h.salted.size() - salt_size);
    if (want.size() != have.size()) return false;
    return CRYPTO_memcmp(want.data(), have.data(), want.size()) == 0;
}

}  // namespace warren::auth
