// SPDX-License-Identifier: Apache-2.0
/*
 * napi_args.h - argument checks shared by the addon's classes: typed arrays of the expected
 * kind, u32 numbers, record counts. Each failure throws a JavaScript error naming the
 * argument (TypeError/RangeError for shapes, Error with code PFSIM_ERR_NATIVE otherwise).
 */
#ifndef PFSIM_NAPI_ARGS_H
#define PFSIM_NAPI_ARGS_H

#include <cstdint>
#include <string>

#include <napi.h>

#include "load_arrays.h"

namespace pfsim_napi {

/* a one-line Error with code PFSIM_ERR_NATIVE */
inline void ThrowNative(Napi::Env env, const std::string &msg)
{
	Napi::Error err = Napi::Error::New(env, msg);

	err.Set("code", Napi::String::New(env, "PFSIM_ERR_NATIVE"));
	err.ThrowAsJavaScriptException();
}

/* a typed array argument of the expected kind, or a thrown TypeError naming it */
template <typename T>
bool GetTyped(const Napi::CallbackInfo &info, size_t i, const char *name,
	      napi_typedarray_type type, T *out)
{
	Napi::Value v = info[i];

	if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
		Napi::TypeError::New(info.Env(), std::string(name) + ": wrong type of array")
			.ThrowAsJavaScriptException();
		return false;
	}
	*out = v.As<T>();
	return true;
}

inline bool GetU32(const Napi::CallbackInfo &info, size_t i, const char *name, uint32_t *out)
{
	Napi::Value v = info[i];
	double d;

	if (!v.IsNumber()) {
		Napi::TypeError::New(info.Env(), std::string(name) + ": not a number")
			.ThrowAsJavaScriptException();
		return false;
	}
	d = v.As<Napi::Number>().DoubleValue();
	if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
		Napi::RangeError::New(info.Env(), std::string(name) + ": not a u32 integer")
			.ThrowAsJavaScriptException();
		return false;
	}
	*out = static_cast<uint32_t>(d);
	return true;
}

/* count of whole records of size rec in len, or a thrown Error "<op>: <name>: ..." */
inline bool Records(Napi::Env env, const char *op, const char *name, size_t len, size_t rec,
		    uint32_t *count)
{
	if (len % rec != 0 || len / rec > UINT32_MAX - 1) {
		ThrowNative(env, std::string(op) + ": " + name + ": byte length " +
					 std::to_string(len) + " is not a multiple of " +
					 std::to_string(rec));
		return false;
	}
	*count = static_cast<uint32_t>(len / rec);
	return true;
}

inline bool Expect(Napi::Env env, const char *op, const char *name, size_t got, size_t want)
{
	if (got != want) {
		ThrowNative(env, std::string(op) + ": " + name + ": length " +
					 std::to_string(got) + ", expected " + std::to_string(want));
		return false;
	}
	return true;
}

/*
 * the arguments of classifyBatch(pkts, count, out): pf_pkt records (40 bytes each, at an even
 * address) and four verdict words each, both holding at least count; else a thrown RangeError
 */
inline bool GetBatch(const Napi::CallbackInfo &info, Napi::Uint8Array *pkts, uint32_t *count,
		     Napi::Uint32Array *out)
{
	Napi::Env env = info.Env();
	const size_t pkt_bytes = 40, out_words = 4;
	std::string why;

	if (!GetTyped(info, 0, "pkts", napi_uint8_array, pkts) || !GetU32(info, 1, "count", count) ||
	    !GetTyped(info, 2, "out", napi_uint32_array, out))
		return false;
	if (pkts->ByteLength() / pkt_bytes < *count)
		why = "pkts holds " + std::to_string(pkts->ByteLength() / pkt_bytes) + " packets";
	else if (out->ElementLength() / out_words < *count)
		why = "out holds " + std::to_string(out->ElementLength() / out_words) + " verdicts";
	else if (reinterpret_cast<uintptr_t>(pkts->Data()) & 1)
		why = "pkts must start at an even byte offset";
	if (why.empty())
		return true;
	if (why.find(" holds ") != std::string::npos)
		why += ", count is " + std::to_string(*count);
	Napi::RangeError::New(env, "classifyBatch: " + why).ThrowAsJavaScriptException();
	return false;
}

/*
 * the eight arguments of load(podAddrs, podStates, trieCount, entryKeys, entryTries,
 * entryValues, values, ext), checked and pointed to by *a: they stay valid for the call.
 * Errors name the operation `op` and the argument.
 */
inline bool GetLoadArrays(const Napi::CallbackInfo &info, const char *op, struct pf_load_arrays *a)
{
	Napi::Env env = info.Env();
	Napi::Uint8Array pod_addrs, entry_keys, values, ext;
	Napi::Uint32Array pod_states, entry_tries, entry_values;
	uint32_t pods, tries, entries, nvalues, next;

	if (!GetTyped(info, 0, "podAddrs", napi_uint8_array, &pod_addrs) ||
	    !GetTyped(info, 1, "podStates", napi_uint32_array, &pod_states) ||
	    !GetU32(info, 2, "trieCount", &tries) ||
	    !GetTyped(info, 3, "entryKeys", napi_uint8_array, &entry_keys) ||
	    !GetTyped(info, 4, "entryTries", napi_uint32_array, &entry_tries) ||
	    !GetTyped(info, 5, "entryValues", napi_uint32_array, &entry_values) ||
	    !GetTyped(info, 6, "values", napi_uint8_array, &values) ||
	    !GetTyped(info, 7, "ext", napi_uint8_array, &ext))
		return false;
	if (!Records(env, op, "podAddrs", pod_addrs.ByteLength(), 16, &pods) ||
	    !Expect(env, op, "podStates", pod_states.ElementLength(), 2 * (size_t)pods) ||
	    !Records(env, op, "entryKeys", entry_keys.ByteLength(), sizeof(struct pf_lpm_key), &entries) ||
	    !Expect(env, op, "entryTries", entry_tries.ElementLength(), entries) ||
	    !Expect(env, op, "entryValues", entry_values.ElementLength(), entries) ||
	    !Records(env, op, "values", values.ByteLength(), sizeof(struct pf_lpm_val), &nvalues) ||
	    !Records(env, op, "ext", ext.ByteLength(), sizeof(struct pf_port_entry), &next))
		return false;
	a->pod_addrs = pod_addrs.Data();
	a->pod_states = pod_states.Data();
	a->pod_count = pods;
	a->trie_count = tries;
	a->entry_keys = entry_keys.Data();
	a->entry_tries = entry_tries.Data();
	a->entry_values = entry_values.Data();
	a->entry_count = entries;
	a->values = values.Data();
	a->value_count = nvalues;
	a->ext = ext.Data();
	a->ext_count = next;
	return true;
}

} // namespace pfsim_napi

#endif /* PFSIM_NAPI_ARGS_H */
