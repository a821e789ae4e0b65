#pragma once
// env: every file operation the store performs, behind one interface (as LevelDB's Env), so
// tests can count fsyncs, slow them down, fail writes part-way or simulate a crash that loses
// unsynced bytes (see fault_env.h). posix_env() is the real one: plain POSIX calls, pread for
// random reads, fdatasync for syncs.
//
//   store::env* e = store::posix_env();
//   auto f = e->new_writable_file("/data/msgs/00000000000000000001.seg");
//   (*f)->append(bytes); (*f)->sync();
//
// Thread safety: an env may be used from several threads at once; a writable_file from one
// thread at a time; random_access_file::read is safe from any number of threads.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.h"

namespace warren::store {

// A file written sequentially from its start (the file is created or truncated on open).
class writable_file {
public:
    virtual ~writable_file() = default;
    // Writes all of `data` or fails (a short write is an error).
    virtual status append(std::string_view data) = 0;
    // Makes every appended byte durable (fdatasync).
    virtual status sync() = 0;
    virtual status close() = 0;
};

// A file read at arbitrary offsets (pread), safe for concurrent readers.
class random_access_file {
public:
    virtual ~random_access_file() = default;
    // Reads up to n bytes at offset into scratch; returns how many were read (fewer at EOF).
    virtual result<size_t> read(uint64_t offset, size_t n, char* scratch) const = 0;
};

class env {
public:
    virtual ~env() = default;
    virtual result<std::unique_ptr<writable_file>> new_writable_file(const std::string& path) = 0;
    // Opens a file to append at its end, creating it if missing; nothing is truncated (a write
    // retried after a failure: truncate_file back to what was durable, then append again).
    virtual result<std::unique_ptr<writable_file>> appendable_file(const std::string& path) = 0;
    virtual result<std::unique_ptr<random_access_file>> new_random_access_file(
        const std::string& path) = 0;
    virtual result<uint64_t> file_size(const std::string& path) = 0;
    virtual bool file_exists(const std::string& path) = 0;
    // Names (not paths) of the entries in a directory, without "." and "..".
    virtual result<std::vector<std::string>> list_dir(const std::string& path) = 0;
    // Creates the directory and its missing parents; fine if it exists.
    virtual status create_dirs(const std::string& path) = 0;
    virtual status remove_file(const std::string& path) = 0;
    virtual status rename_file(const std::string& from, const std::string& to) = 0;
    virtual status truncate_file(const std::string& path, uint64_t size) = 0;
    // fsyncs a directory so that creations, renames and removals in it are durable.
    virtual status sync_dir(const std::string& path) = 0;

    // Convenience: the whole file.
    result<std::string> read_file(const std::string& path);
    // The same into `out`, reusing its memory (recovery reads every segment through one buffer,
    // so it neither zero-fills nor faults in 64 MiB per segment).
    status read_file(const std::string& path, std::string& out);
    // Convenience: create/truncate, write, sync, close.
    status write_file(const std::string& path, std::string_view data, bool sync);
};

// The process-wide POSIX env (never destroyed).
env* posix_env();

// "a/b" + "c" -> "a/b/c".
std::string join_path(std::string_view dir, std::string_view name);
std::string dir_name(std::string_view path);

}  // namespace warren::store
