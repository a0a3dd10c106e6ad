// SPDX-License-Identifier: Apache-2.0
/*
 * bpf_addon.h - registers the BpfClassifier class (the tc program under BPF_PROG_TEST_RUN)
 * on the addon's exports; called from the module init for every environment.
 */
#ifndef PFSIM_BPF_ADDON_H
#define PFSIM_BPF_ADDON_H

#include <napi.h>

namespace pfsim_bpf {

void Init(Napi::Env env, Napi::Object exports);

} // namespace pfsim_bpf

#endif // PFSIM_BPF_ADDON_H
