#pragma once
// STOMP frame encoder. Appends frames to an output buffer so a connection can batch many
// frames into one socket write. Escapes header names and values for the negotiated version
// (never for CONNECTED). Does not add content-length: callers that may carry NULs in a body
// (MESSAGE, ERROR) add it themselves.
//
//   std::string out;
//   stomp::writer w(out, stomp::version::v1_2);
//   w.begin(stomp::command::receipt).header("receipt-id", "77").end();
//   stomp::encode(frame, version::v1_2, out);   // a whole frame value

#include <string>
#include <string_view>

#include "proto/stomp/codec/frame.h"

namespace warren::stomp {

class writer {
public:
    writer(std::string& out, version v) : _out(out), _version(v) {}

    writer& begin(command c);
    writer& header(std::string_view name, std::string_view value);
    // Ends the headers, appends the body and the terminating NUL.
    void end(std::string_view body = {});

private:
    std::string& _out;
    version _version;
    bool _escape = true;
};

void encode(const frame& f, version v, std::string& out);
std::string encode(const frame& f, version v);

}  // namespace warren::stomp
