#pragma once

// Raw DEFLATE (zlib) with a preset dictionary, for objects a cache holds by the thousand
// (runtime::TypedStore's packed form, issue 15). Small objects of one kind share most of
// their text (field names, fixed values): a dictionary of that shared text lets a 1.5 KiB
// AccessRequest compress to ~340 bytes.

#include <string>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant {

// `data` compressed; decompress() with the same dictionary restores it.
std::string compress(std::string_view data, std::string_view dictionary = {});
// Invalid when `packed` is not what compress() made with this dictionary.
[[nodiscard]] Result<std::string> decompress(std::string_view packed,
                                             std::string_view dictionary = {});

}  // namespace kubegrant
