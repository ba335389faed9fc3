/*
 * vigil public types shared by the daemon and plugins: the result code and
 * the value types of an event field. Part of the stable plugin ABI: enum
 * values are never renumbered, new ones are only appended.
 */
#ifndef VIGIL_TYPES_H
#define VIGIL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every fallible vigil call: 0 is success, errors are negative. */
typedef enum vgl_rc {
    VGL_OK = 0,
    VGL_ERR_INVALID = -1,   /**< bad argument or malformed input */
    VGL_ERR_NOMEM = -2,     /**< allocation failed or a memory cap was hit */
    VGL_ERR_NOTFOUND = -3,  /**< no such field, plugin, rule, schema, ... */
    VGL_ERR_TOOBIG = -4,    /**< a size, depth or count limit was exceeded */
    VGL_ERR_TYPE = -5,      /**< a value has the wrong type */
    VGL_ERR_IO = -6,        /**< a file or socket operation failed */
    VGL_ERR_KAFKA = -7,     /**< a Kafka client error */
    VGL_ERR_TIMEOUT = -8,   /**< a deadline passed */
    VGL_ERR_ABI = -9,       /**< plugin ABI version mismatch */
    VGL_ERR_CONFIG = -10,   /**< configuration rejected */
    VGL_ERR_STATE = -11     /**< call not valid in the current state */
} vgl_rc;

/** Type of an event value. */
typedef enum vgl_type {
    VGL_T_NULL = 0,
    VGL_T_BOOL = 1,
    VGL_T_INT = 2,    /**< int64_t */
    VGL_T_DOUBLE = 3,
    VGL_T_STRING = 4, /**< UTF-8 bytes with a length; not necessarily NUL-free */
    VGL_T_ARRAY = 5,
    VGL_T_OBJECT = 6
} vgl_type;

/**
 * @return a static English description of @p rc ("ok", "invalid input", ...).
 */
const char *vgl_rc_str(vgl_rc rc);

#ifdef __cplusplus
}
#endif
#endif
