#pragma once
// fault_env: an env for tests that wraps a real one (normally posix_env() on a temp dir) and
//  - counts file syncs, directory syncs, bytes written and files created,
//  - can make each sync slow (to show group commit batching under a realistic fsync cost),
//  - can fail writes once a byte budget is spent, writing only part of the data first
//    (a short write, as a full disk or a crash mid-write leaves),
//  - can fail syncs,
//  - can simulate a power loss: drop_unsynced_data() cuts every file it saw written back to the
//    length it had at its last successful sync,
//  - can fail one chosen operation, or a run of them: every append, file sync, directory sync,
//    open, truncate, rename and remove through it is numbered (ops()), and operations
//    fail_from .. fail_from + fail_count - 1 fail as fail_kind (a short write, EIO, ENOSPC or
//    EMFILE), which lets a test sweep a fault over every write and fsync a workload makes.
//
//   store::fault_env fe(store::posix_env());
//   fe.sync_delay = std::chrono::milliseconds(2);
//   ... run the log on &fe ...;  EXPECT_LT(fe.file_syncs(), appends);
//
// Lives in warren_store_testing, never in the broker.

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/env.h"

namespace warren::store {

class fault_env final : public env {
public:
    explicit fault_env(env* base) : _base(base) {}

    // ---- knobs (set before use, or between operations) ----
    std::chrono::microseconds sync_delay{0};
    // Once this many bytes have been written through this env, an append writes only the bytes
    // still in budget and fails. -1: unlimited.
    std::atomic<int64_t> write_budget{-1};
    std::atomic<bool> fail_syncs{false};
    // Syncs are recorded (what drop_unsynced_data keeps) but not passed to the real env: for
    // tests that simulate power loss themselves and make thousands of syncs.
    std::atomic<bool> fake_syncs{false};

    // Operation faults (see above). short_write: an append writes the first half of its bytes,
    // then fails; the other operations fail as io_error. The error texts carry the errno's
    // message ("No space left on device", ...).
    enum class fault { short_write, eio, enospc, emfile };
    std::atomic<int64_t> fail_from{-1};
    std::atomic<int64_t> fail_count{1};
    std::atomic<fault> fail_kind{fault::eio};
    static constexpr int64_t forever = INT64_MAX;
    // Operations from..from+count-1 (counted by ops()) fail as `kind`.
    void fail_ops(fault kind, uint64_t from, int64_t count = forever) {
        fail_kind = kind;
        fail_count = count;
        fail_from = static_cast<int64_t>(from);
    }
    void heal() { fail_from = -1; }
    uint64_t ops() const { return _ops.load(); }
    uint64_t injected() const { return _injected.load(); }

    // ---- counters ----
    uint64_t file_syncs() const { return _file_syncs.load(); }
    uint64_t dir_syncs() const { return _dir_syncs.load(); }
    uint64_t bytes_written() const { return _bytes_written.load(); }
    void reset_counters() {
        _ops = 0;
        _injected = 0;
        _file_syncs = 0;
        _dir_syncs = 0;
        _bytes_written = 0;
    }

    // Cuts every file written through this env back to its last synced length (power loss).
    void drop_unsynced_data();

    // ---- env ----
    result<std::unique_ptr<writable_file>> new_writable_file(const std::string& path) override;
    result<std::unique_ptr<writable_file>> appendable_file(const std::string& path) override;
    // Fails every file open (new or appendable) while set, as EMFILE would.
    std::atomic<bool> fail_opens{false};
    result<std::unique_ptr<random_access_file>> new_random_access_file(
        const std::string& path) override {
        return _base->new_random_access_file(path);
    }
    result<uint64_t> file_size(const std::string& path) override { return _base->file_size(path); }
    bool file_exists(const std::string& path) override { return _base->file_exists(path); }
    result<std::vector<std::string>> list_dir(const std::string& path) override {
        return _base->list_dir(path);
    }
    status create_dirs(const std::string& path) override { return _base->create_dirs(path); }
    status remove_file(const std::string& path) override;
    status rename_file(const std::string& from, const std::string& to) override;
    status truncate_file(const std::string& path, uint64_t size) override;
    status sync_dir(const std::string& path) override;

private:
    friend class fault_writable_file;
    // Numbers one operation; the injected failure if it is one of the failing ones.
    std::optional<error> next_op(std::string_view what, const std::string& path);
    std::atomic<uint64_t> _ops{0}, _injected{0};
    struct file_state {
        uint64_t written = 0;
        uint64_t synced = 0;
    };

    env* _base;
    std::atomic<uint64_t> _file_syncs{0}, _dir_syncs{0}, _bytes_written{0};
    std::mutex _mu;
    // By path; an open file keeps its state across a rename of its path (shared_ptr).
    std::map<std::string, std::shared_ptr<file_state>> _files;
};

}  // namespace warren::store
