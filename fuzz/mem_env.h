#pragma once
// An in-memory store::env for the store fuzzers: files are strings in a map, so recovery runs
// at memory speed with no temp directories to clean up. Enough of POSIX for segment_log and
// metadata_store: sequential writes, pread-like reads, listing, rename, truncate. Not a test
// double for crash behaviour (fault_env is): nothing is ever lost. Thread-safe (one mutex).

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/env.h"

namespace warren::fuzz {

class mem_env final : public store::env {
public:
    void put(const std::string& path, std::string bytes) {
        std::lock_guard g(_mu);
        _files[path] = std::move(bytes);
    }

    store::result<std::unique_ptr<store::writable_file>> new_writable_file(
        const std::string& path) override {
        std::lock_guard g(_mu);
        _files[path].clear();
        return std::unique_ptr<store::writable_file>(new writer(*this, path));
    }
    store::result<std::unique_ptr<store::writable_file>> appendable_file(
        const std::string& path) override {
        std::lock_guard g(_mu);
        _files[path];
        return std::unique_ptr<store::writable_file>(new writer(*this, path));
    }
    store::result<std::unique_ptr<store::random_access_file>> new_random_access_file(
        const std::string& path) override {
        std::lock_guard g(_mu);
        if (!_files.count(path)) return missing(path);
        return std::unique_ptr<store::random_access_file>(new reader(*this, path));
    }
    store::result<uint64_t> file_size(const std::string& path) override {
        std::lock_guard g(_mu);
        auto it = _files.find(path);
        if (it == _files.end()) return missing(path);
        return uint64_t(it->second.size());
    }
    bool file_exists(const std::string& path) override {
        std::lock_guard g(_mu);
        return _files.count(path) > 0;
    }
    store::result<std::vector<std::string>> list_dir(const std::string& path) override {
        std::lock_guard g(_mu);
        std::vector<std::string> names;
        for (auto& [p, _] : _files)
            if (store::dir_name(p) == path) names.push_back(p.substr(path.size() + 1));
        return names;
    }
    store::status create_dirs(const std::string&) override { return {}; }
    store::status remove_file(const std::string& path) override {
        std::lock_guard g(_mu);
        if (!_files.erase(path)) return missing(path);
        return {};
    }
    store::status rename_file(const std::string& from, const std::string& to) override {
        std::lock_guard g(_mu);
        auto it = _files.find(from);
        if (it == _files.end()) return missing(from);
        std::string bytes = std::move(it->second);
        _files.erase(it);
        _files[to] = std::move(bytes);
        return {};
    }
    store::status truncate_file(const std::string& path, uint64_t size) override {
        std::lock_guard g(_mu);
        auto it = _files.find(path);
        if (it == _files.end()) return missing(path);
        it->second.resize(size);
        return {};
    }
    store::status sync_dir(const std::string&) override { return {}; }

private:
    static store::error missing(const std::string& path) {
        return store::make_error(store::errc::not_found, path + ": no such file");
    }

    struct writer final : store::writable_file {
        writer(mem_env& e, std::string p) : env(e), path(std::move(p)) {}
        store::status append(std::string_view data) override {
            std::lock_guard g(env._mu);
            env._files[path].append(data);
            return {};
        }
        store::status sync() override { return {}; }
        store::status close() override { return {}; }
        mem_env& env;
        std::string path;
    };
    struct reader final : store::random_access_file {
        reader(mem_env& e, std::string p) : env(e), path(std::move(p)) {}
        store::result<size_t> read(uint64_t offset, size_t n, char* scratch) const override {
            std::lock_guard g(env._mu);
            auto it = env._files.find(path);
            if (it == env._files.end()) return missing(path);
            const std::string& f = it->second;
            if (offset >= f.size()) return size_t(0);
            size_t k = std::min<uint64_t>(n, f.size() - offset);
            std::memcpy(scratch, f.data() + offset, k);
            return k;
        }
        mem_env& env;
        std::string path;
    };

    std::mutex _mu;
    std::map<std::string, std::string> _files;
};

}  // namespace warren::fuzz
