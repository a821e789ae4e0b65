#pragma once
// ring<T>: a double-ended queue in one power-of-two circular buffer. Unlike std::deque (which
// allocates and frees a block every few elements as a queue slides forward) it allocates only
// when it grows past its largest size so far, so a queue's steady state allocates nothing.
// Indexing is relative to the front; insert() in the middle is O(n) (requeue only).
//
//   ring<int> r;  r.push_back(1);  r.push_front(0);  int x = r.front();  r.pop_front();

#include <cassert>
#include <cstddef>
#include <memory>
#include <utility>

namespace warren::core {

template <typename T>
class ring {
public:
    ring() = default;
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;
    ~ring() {
        clear();
        if (_buf) std::allocator<T>{}.deallocate(_buf, _cap);
    }

    size_t size() const { return _size; }
    bool empty() const { return _size == 0; }
    size_t capacity() const { return _cap; }

    T& operator[](size_t i) { return _buf[(_head + i) & (_cap - 1)]; }
    const T& operator[](size_t i) const { return _buf[(_head + i) & (_cap - 1)]; }
    T& front() { return (*this)[0]; }
    T& back() { return (*this)[_size - 1]; }

    void push_back(T v) {
        if (_size == _cap) grow();
        ::new (static_cast<void*>(&_buf[(_head + _size) & (_cap - 1)])) T(std::move(v));
        ++_size;
    }
    void push_front(T v) {
        if (_size == _cap) grow();
        _head = (_head + _cap - 1) & (_cap - 1);
        ::new (static_cast<void*>(&_buf[_head])) T(std::move(v));
        ++_size;
    }
    void pop_front() {
        assert(_size > 0);
        _buf[_head].~T();
        _head = (_head + 1) & (_cap - 1);
        --_size;
    }
    // Inserts before position i (0 = front, size() = back).
    void insert(size_t i, T v) {
        assert(i <= _size);
        push_back(std::move(v));
        for (size_t j = _size - 1; j > i; --j) std::swap((*this)[j], (*this)[j - 1]);
    }
    // Removes position i, shifting the front part back by one (O(min(i, size - i)) not needed:
    // O(i); expiry of a message in the middle only).
    void erase(size_t i) {
        assert(i < _size);
        for (size_t j = i; j > 0; --j) std::swap((*this)[j], (*this)[j - 1]);
        pop_front();
    }
    void clear() {
        while (_size) pop_front();
        _head = 0;
    }
    // clear() and give the memory back.
    void reset() {
        clear();
        if (_buf) std::allocator<T>{}.deallocate(_buf, _cap);
        _buf = nullptr;
        _cap = 0;
    }

private:
    void grow() {
        size_t ncap = _cap ? _cap * 2 : 16;
        T* nbuf = std::allocator<T>{}.allocate(ncap);
        for (size_t i = 0; i < _size; ++i) {
            T& src = (*this)[i];
            ::new (static_cast<void*>(&nbuf[i])) T(std::move(src));
            src.~T();
        }
        if (_buf) std::allocator<T>{}.deallocate(_buf, _cap);
        _buf = nbuf;
        _cap = ncap;
        _head = 0;
    }

    T* _buf = nullptr;
    size_t _cap = 0;
    size_t _head = 0;
    size_t _size = 0;
};

}  // namespace warren::core
