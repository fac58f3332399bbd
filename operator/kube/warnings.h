#pragma once

// The API server's warnings (admission webhooks' `warnings`, deprecated APIs) arrive as HTTP
// `Warning` headers: `299 - "text"`, RFC 7234 warn-values, several in one header when they
// are joined by commas (as cpprestsdk joins repeated headers).

#include <string>
#include <string_view>
#include <vector>

namespace kubegrant::kube {

// The texts of the warn-values in `header`, in order, unescaped. Malformed parts end the
// parse (what came before is kept), as client-go's ParseWarningHeaders does; a warn-value
// whose code is not 299 is skipped.
std::vector<std::string> parseWarningHeader(std::string_view header);

}  // namespace kubegrant::kube
