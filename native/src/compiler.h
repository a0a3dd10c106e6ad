/* SPDX-License-Identifier: Apache-2.0 */
/* compiler.h - the few compiler attributes the host code uses, spelled as in the kernel */
#ifndef PFSIM_COMPILER_H
#define PFSIM_COMPILER_H

#include <stddef.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#endif /* PFSIM_COMPILER_H */
