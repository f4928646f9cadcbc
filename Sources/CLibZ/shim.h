// zlib: the bundle container's CRC32 (ISO-HDLC, polynomial 0xEDB88320 reflected).
#include <zlib.h>
