#include "store/fault_env.h"

#include <thread>

namespace warren::store {

class fault_writable_file final : public writable_file {
public:
    fault_writable_file(fault_env* e, std::string path, std::unique_ptr<writable_file> f)
        : _env(e), _path(std::move(path)), _f(std::move(f)) {}

    status append(std::string_view data) override {
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
        if (auto s = _f->sync(); !s) return s;
        ++_env->_file_syncs;
        std::lock_guard lk(_env->_mu);
        auto& st = _env->_files[_path];
        st.synced = st.written;
        return {};
    }
    status close() override { return _f->close(); }

private:
    status write_through(std::string_view data) {
        if (auto s = _f->append(data); !s) return s;
        _env->_bytes_written += data.size();
        std::lock_guard lk(_env->_mu);
        _env->_files[_path].written += data.size();
        return {};
    }

    fault_env* _env;
    std::string _path;
    std::unique_ptr<writable_file> _f;
};

result<std::unique_ptr<writable_file>> fault_env::appendable_file(const std::string& path) {
    if (fail_opens) return make_error(errc::io_error, "open " + path + ": Too many open files");
    auto f = _base->appendable_file(path);
    if (!f) return f.error();
    auto size = _base->file_size(path);
    {
        // What is there now counts as synced: a retry truncates back to durable data first.
        std::lock_guard lk(_mu);
        const uint64_t n = size ? *size : 0;
        _files[path] = file_state{n, n};
    }
    return std::unique_ptr<writable_file>(new fault_writable_file(this, path, std::move(*f)));
}

status fault_env::truncate_file(const std::string& path, uint64_t size) {
    {
        std::lock_guard lk(_mu);
        auto it = _files.find(path);
        if (it != _files.end()) {
            it->second.written = std::min(it->second.written, size);
            it->second.synced = std::min(it->second.synced, size);
        }
    }
    return _base->truncate_file(path, size);
}

result<std::unique_ptr<writable_file>> fault_env::new_writable_file(const std::string& path) {
    if (fail_opens) return make_error(errc::io_error, "open " + path + ": Too many open files");
    auto f = _base->new_writable_file(path);
    if (!f) return f.error();
    {
        std::lock_guard lk(_mu);
        _files[path] = file_state{};
    }
    return std::unique_ptr<writable_file>(new fault_writable_file(this, path, std::move(*f)));
}

status fault_env::remove_file(const std::string& path) {
    {
        std::lock_guard lk(_mu);
        _files.erase(path);
    }
    return _base->remove_file(path);
}

status fault_env::rename_file(const std::string& from, const std::string& to) {
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
        if (st.written > st.synced && _base->file_exists(path)) {
            (void)_base->truncate_file(path, st.synced);
            st.written = st.synced;
        }
    }
}

}  // namespace warren::store
