#include "store/fault_env.h"

#include <cerrno>
#include <cstring>
#include <thread>

namespace warren::store {

class fault_writable_file final : public writable_file {
public:
    fault_writable_file(fault_env* e, std::string path, std::unique_ptr<writable_file> f,
                        std::shared_ptr<fault_env::file_state> st)
        : _env(e), _path(std::move(path)), _f(std::move(f)), _st(std::move(st)) {}

    status append(std::string_view data) override {
        if (auto e = _env->next_op("write", _path)) {
            if (_env->fail_kind.load() == fault_env::fault::short_write && data.size() > 1)
                (void)write_through(data.substr(0, data.size() / 2));
            return *e;
        }
        int64_t budget = _env->write_budget.load();
        if (budget >= 0) {
            auto room = static_cast<uint64_t>(budget) > _env->_bytes_written.load()
                            ? budget - static_cast<int64_t>(_env->_bytes_written.load())
                            : 0;
            if (static_cast<uint64_t>(room) < data.size()) {
                std::string_view part = data.substr(0, static_cast<size_t>(room));
                if (!part.empty()) {
                    if (auto s = write_through(part); !s) return s;
                }
                return make_error(errc::io_error, "injected short write to " + _path);
            }
        }
        return write_through(data);
    }
    status sync() override {
        if (_env->sync_delay.count() > 0) std::this_thread::sleep_for(_env->sync_delay);
        if (_env->fail_syncs.load()) return make_error(errc::io_error, "injected sync failure");
        if (auto e = _env->next_op("fsync", _path)) return *e;
        if (!_env->fake_syncs.load()) {
            if (auto s = _f->sync(); !s) return s;
        }
        ++_env->_file_syncs;
        std::lock_guard lk(_env->_mu);
        _st->synced = _st->written;
        return {};
    }
    status close() override { return _f->close(); }

private:
    status write_through(std::string_view data) {
        if (auto s = _f->append(data); !s) return s;
        _env->_bytes_written += data.size();
        std::lock_guard lk(_env->_mu);
        _st->written += data.size();
        return {};
    }

    fault_env* _env;
    std::string _path;
    std::unique_ptr<writable_file> _f;
    std::shared_ptr<fault_env::file_state> _st;  // follows the file if its path is renamed
};

std::optional<error> fault_env::next_op(std::string_view what, const std::string& path) {
    const auto n = static_cast<int64_t>(_ops++);
    const int64_t from = fail_from.load();
    if (from < 0 || n < from || n - from >= fail_count.load()) return std::nullopt;
    ++_injected;
    int code = EIO;
    switch (fail_kind.load()) {
        case fault::enospc:
            code = ENOSPC;
            break;
        case fault::emfile:
            code = EMFILE;
            break;
        case fault::short_write:
        case fault::eio:
            code = EIO;
            break;
    }
    return make_error(errc::io_error,
                      "injected: " + std::string(what) + " " + path + ": " + std::strerror(code));
}

status fault_env::sync_dir(const std::string& path) {
    if (auto e = next_op("fsync dir", path)) return *e;
    ++_dir_syncs;
    if (fake_syncs.load()) return {};
    return _base->sync_dir(path);
}

result<std::unique_ptr<writable_file>> fault_env::appendable_file(const std::string& path) {
    if (fail_opens) return make_error(errc::io_error, "open " + path + ": Too many open files");
    if (auto e = next_op("open", path)) return *e;
    auto f = _base->appendable_file(path);
    if (!f) return f.error();
    auto size = _base->file_size(path);
    // What is there now counts as synced: a retry truncates back to durable data first.
    const uint64_t n = size ? *size : 0;
    auto st = std::make_shared<file_state>(file_state{n, n});
    {
        std::lock_guard lk(_mu);
        _files[path] = st;
    }
    return std::unique_ptr<writable_file>(
        new fault_writable_file(this, path, std::move(*f), std::move(st)));
}

status fault_env::truncate_file(const std::string& path, uint64_t size) {
    if (auto e = next_op("truncate", path)) return *e;
    {
        std::lock_guard lk(_mu);
        auto it = _files.find(path);
        if (it != _files.end()) {
            it->second->written = std::min(it->second->written, size);
            it->second->synced = std::min(it->second->synced, size);
        }
    }
    return _base->truncate_file(path, size);
}

result<std::unique_ptr<writable_file>> fault_env::new_writable_file(const std::string& path) {
    if (fail_opens) return make_error(errc::io_error, "open " + path + ": Too many open files");
    if (auto e = next_op("create", path)) return *e;
    auto f = _base->new_writable_file(path);
    if (!f) return f.error();
    auto st = std::make_shared<file_state>();
    {
        std::lock_guard lk(_mu);
        _files[path] = st;
    }
    return std::unique_ptr<writable_file>(
        new fault_writable_file(this, path, std::move(*f), std::move(st)));
}

status fault_env::remove_file(const std::string& path) {
    if (auto e = next_op("remove", path)) return *e;
    {
        std::lock_guard lk(_mu);
        _files.erase(path);
    }
    return _base->remove_file(path);
}

status fault_env::rename_file(const std::string& from, const std::string& to) {
    if (auto e = next_op("rename", from)) return *e;
    {
        std::lock_guard lk(_mu);
        auto it = _files.find(from);
        if (it != _files.end()) {
            _files[to] = it->second;
            _files.erase(from);
        }
    }
    return _base->rename_file(from, to);
}

void fault_env::drop_unsynced_data() {
    std::lock_guard lk(_mu);
    for (auto& [path, st] : _files) {
        if (st->written > st->synced && _base->file_exists(path)) {
            (void)_base->truncate_file(path, st->synced);
            st->written = st->synced;
        }
    }
}

}  // namespace warren::store
