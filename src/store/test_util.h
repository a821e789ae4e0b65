#pragma once
// Test helpers for store tests: a temporary directory removed at scope exit, and small file
// surgery (flip a bit, overwrite bytes, append bytes) to fake crashes and disk corruption.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace warren::store::testing {

class temp_dir {
public:
    temp_dir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "warren-store-XXXXXX").string();
        char* p = ::mkdtemp(tmpl.data());
        if (p) _path = p;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    const std::string& path() const { return _path; }

private:
    std::string _path;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void flip_bit(const std::string& path, uint64_t offset, int bit) {
    std::string all = slurp(path);
    std::string b(1, static_cast<char>(all.at(offset) ^ (1 << bit)));
    overwrite(path, offset, b);
}

inline void append_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void truncate_to(const std::string& path, uint64_t size) {
    std::filesystem::resize_file(path, size);
}

}  // namespace warren::store::testing
