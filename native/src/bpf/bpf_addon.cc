// SPDX-License-Identifier: Apache-2.0
/*
 * bpf_addon.cc - the BpfClassifier class for JavaScript: checks the typed arrays it is
 * handed, then passes positional, checked arguments to native/src/bpf/bpf_classifier.c.
 *
 *   new BpfClassifier(objPath, { ctCapacity? })
 *   load(podAddrs, podStates, trieCount, entryKeys, entryTries, entryValues, values, ext,
 *        capacity?)   capacity: { pods, tries, trieEntries, ext }, room for later deltas
 *   applyDelta(extSlots, ext, newTries, podAddrs, podStates, lpmKeys, lpmTries, lpmValues,
 *              lpmFill, values, goneTries) -> map operations made (src/compile/delta.ts)
 *   dump() -> { pods, tries, entries, ext }: the maps read back (Uint8Array, Uint32Array,
 *             Uint8Array of 224-byte trie id + key + value records, Uint8Array)
 *   classifyBatch(pkts, count, out, stateful)        out: 4 words per pf_pkt record
 *   runFrame(frame, stateful?) -> { retval, verdict, reason, egress, ingress }
 *   timePerPacket(frame, repeat, stateful?) -> ns per run, as the kernel measured it
 *     (a frame runs as its first PFB_RUN_FRAME_MAX bytes: headers are all the program reads)
 *   resetConntrack(), close()
 * Attach mode (new BpfClassifier(objPath, { attach: true })): load() loads the two programs
 * for real hooks (tc_from_pod, tc_to_pod) instead; the run methods refuse, and
 *   attach(netnsPath, fromIf, toIf)   tc_from_pod on fromIf's ingress hook, tc_to_pod on
 *                                     toIf's egress hook, in the namespace of netnsPath
 *   detach()                          removes them (close() does too)
 *   setStateful(stateful)             whether the attached programs track connections
 *
 * Errors are one-line Errors with code PFSIM_ERR_NATIVE whose message starts with the
 * operation; argument shapes throw TypeError or RangeError naming the argument.
 */
#include <cstdint>
#include <cstring>
#include <string>

#include "bpf_addon.h"
#include "bpf_classifier.h"
#include "../napi_args.h"

namespace pfsim_bpf {
namespace {

constexpr size_t kPktBytes = sizeof(struct pf_pkt);
/* a capture record at most (PFC_MAX_CAPLEN); the run itself takes PFB_RUN_FRAME_MAX bytes */
constexpr uint32_t kMaxFrame = 262144;

using pfsim_napi::ThrowNative;

template <typename T>
bool Typed(const Napi::CallbackInfo &info, size_t i, const char *name, napi_typedarray_type type,
	   T *out)
{
	return pfsim_napi::GetTyped(info, i, name, type, out);
}

bool U32(const Napi::CallbackInfo &info, size_t i, const char *name, uint32_t *out)
{
	return pfsim_napi::GetU32(info, i, name, out);
}

bool Records(Napi::Env env, const char *name, size_t len, size_t rec, uint32_t *count)
{
	return pfsim_napi::Records(env, "bpf load", name, len, rec, count);
}

bool Expect(Napi::Env env, const char *name, size_t got, size_t want)
{
	return pfsim_napi::Expect(env, "bpf load", name, got, want);
}

/* a frame argument: a Uint8Array of 14 to kMaxFrame bytes */
bool Frame(const Napi::CallbackInfo &info, size_t i, const char *op, Napi::Uint8Array *out)
{
	if (!Typed(info, i, "frame", napi_uint8_array, out))
		return false;
	if (out->ByteLength() < 14 || out->ByteLength() > kMaxFrame) {
		Napi::RangeError::New(info.Env(), std::string(op) + ": frame: " +
						  std::to_string(out->ByteLength()) +
						  " bytes, expected 14 to " + std::to_string(kMaxFrame))
			.ThrowAsJavaScriptException();
		return false;
	}
	return true;
}

class BpfClassifier : public Napi::ObjectWrap<BpfClassifier> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(
			env, "BpfClassifier",
			{
				InstanceMethod<&BpfClassifier::Load>("load"),
				InstanceMethod<&BpfClassifier::ClassifyBatch>("classifyBatch"),
				InstanceMethod<&BpfClassifier::RunFrame>("runFrame"),
				InstanceMethod<&BpfClassifier::TimePerPacket>("timePerPacket"),
				InstanceMethod<&BpfClassifier::ResetConntrack>("resetConntrack"),
				InstanceMethod<&BpfClassifier::Close>("close"),
				InstanceMethod<&BpfClassifier::Attach>("attach"),
				InstanceMethod<&BpfClassifier::Detach>("detach"),
				InstanceMethod<&BpfClassifier::SetStateful>("setStateful"),
				InstanceMethod<&BpfClassifier::ApplyDelta>("applyDelta"),
				InstanceMethod<&BpfClassifier::Dump>("dump"),
				StaticValue("VALUE_MAX_ENTRIES",
					    Napi::Number::New(env, PF_TC_VALUE_MAX_ENTRIES)),
			});
	}

	explicit BpfClassifier(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfClassifier>(info)
	{
		Napi::Env env = info.Env();
		struct pfb_err err;
		uint32_t cap = PFB_CT_DEFAULT;
		bool attach = false;

		if (!info[0].IsString()) {
			Napi::TypeError::New(env, "BpfClassifier: objPath must be a string")
				.ThrowAsJavaScriptException();
			return;
		}
		if (info.Length() > 1 && !info[1].IsUndefined()) {
			if (!info[1].IsObject()) {
				Napi::TypeError::New(env, "BpfClassifier: options must be an object")
					.ThrowAsJavaScriptException();
				return;
			}
			Napi::Value v = info[1].As<Napi::Object>().Get("ctCapacity");
			if (env.IsExceptionPending())
				return;
			if (!v.IsUndefined()) {
				double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;

				if (!(d >= PFB_CT_MIN && d <= PFB_CT_MAX) ||
				    d != static_cast<double>(static_cast<uint32_t>(d))) {
					Napi::RangeError::New(env, "BpfClassifier: ctCapacity must be an integer from " +
								   std::to_string(PFB_CT_MIN) + " to " +
								   std::to_string(PFB_CT_MAX))
						.ThrowAsJavaScriptException();
					return;
				}
				cap = static_cast<uint32_t>(d);
			}
			Napi::Value a = info[1].As<Napi::Object>().Get("attach");
			if (env.IsExceptionPending())
				return;
			attach = a.ToBoolean().Value();
		}
		if (pfb_new(info[0].As<Napi::String>().Utf8Value().c_str(), cap, &c_, &err)) {
			ThrowNative(env, err.msg);
			return;
		}
		if (attach && pfb_set_attach_mode(c_, 1, &err))
			ThrowNative(env, err.msg);
	}

	~BpfClassifier() override { pfb_free(c_); }

private:
	bool Live(Napi::Env env, const char *op)
	{
		if (c_)
			return true;
		ThrowNative(env, std::string(op) + ": classifier is closed");
		return false;
	}

	Napi::Value Load(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pf_load_arrays a;
		struct pfb_capacity cap;
		struct pfb_err err;

		if (!Live(env, "load") || !pfsim_napi::GetLoadArrays(info, "bpf load", &a) ||
		    !Capacity(info, 8, &cap))
			return env.Undefined();
		if (pfb_load(c_, &a, &cap, &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	/* the optional capacity object of load(): each field a u32, absent = fit the load */
	static bool Capacity(const Napi::CallbackInfo &info, size_t i, struct pfb_capacity *a)
	{
		Napi::Env env = info.Env();
		static const char *const names[4] = { "pods", "tries", "trieEntries", "ext" };
		uint32_t *fields[4] = { &a->pod_capacity, &a->trie_capacity, &a->trie_entry_capacity,
					&a->ext_capacity };
		Napi::Object o;

		for (size_t k = 0; k < 4; k++)
			*fields[k] = 0;
		if (info.Length() <= i || info[i].IsUndefined())
			return true;
		if (!info[i].IsObject()) {
			Napi::TypeError::New(env, "bpf load: capacity must be an object")
				.ThrowAsJavaScriptException();
			return false;
		}
		o = info[i].As<Napi::Object>();
		for (size_t k = 0; k < 4; k++) {
			Napi::Value v = o.Get(names[k]);
			double d;

			if (env.IsExceptionPending())
				return false;
			if (v.IsUndefined())
				continue;
			d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
			if (!(d >= 0 && d <= 4294967295.0) ||
			    d != static_cast<double>(static_cast<uint32_t>(d))) {
				Napi::RangeError::New(env, std::string("bpf load: capacity.") + names[k] +
								   ": not a u32 integer")
					.ThrowAsJavaScriptException();
				return false;
			}
			*fields[k] = static_cast<uint32_t>(d);
		}
		return true;
	}

	Napi::Value ApplyDelta(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint32Array ext_slots, new_tries, pod_states, lpm_tries, lpm_values, gone;
		Napi::Uint8Array ext, pod_addrs, lpm_keys, values;
		struct pfb_delta_args a;
		struct pfb_err err;
		uint32_t n_ext, n_pods, n_lpm, n_values, fill, ops = 0;
		const char *op = "applyDelta";

		if (!Live(env, op))
			return env.Undefined();
		if (!Typed(info, 0, "extSlots", napi_uint32_array, &ext_slots) ||
		    !Typed(info, 1, "ext", napi_uint8_array, &ext) ||
		    !Typed(info, 2, "newTries", napi_uint32_array, &new_tries) ||
		    !Typed(info, 3, "podAddrs", napi_uint8_array, &pod_addrs) ||
		    !Typed(info, 4, "podStates", napi_uint32_array, &pod_states) ||
		    !Typed(info, 5, "lpmKeys", napi_uint8_array, &lpm_keys) ||
		    !Typed(info, 6, "lpmTries", napi_uint32_array, &lpm_tries) ||
		    !Typed(info, 7, "lpmValues", napi_uint32_array, &lpm_values) ||
		    !U32(info, 8, "lpmFill", &fill) ||
		    !Typed(info, 9, "values", napi_uint8_array, &values) ||
		    !Typed(info, 10, "goneTries", napi_uint32_array, &gone))
			return env.Undefined();
		if (!pfsim_napi::Records(env, op, "ext", ext.ByteLength(), sizeof(struct pf_port_entry),
					 &n_ext) ||
		    !pfsim_napi::Expect(env, op, "extSlots", ext_slots.ElementLength(), n_ext) ||
		    !pfsim_napi::Records(env, op, "podAddrs", pod_addrs.ByteLength(), 16, &n_pods) ||
		    !pfsim_napi::Expect(env, op, "podStates", pod_states.ElementLength(),
					2 * (size_t)n_pods) ||
		    !pfsim_napi::Records(env, op, "lpmKeys", lpm_keys.ByteLength(),
					 sizeof(struct pf_lpm_key), &n_lpm) ||
		    !pfsim_napi::Expect(env, op, "lpmTries", lpm_tries.ElementLength(), n_lpm) ||
		    !pfsim_napi::Expect(env, op, "lpmValues", lpm_values.ElementLength(), n_lpm) ||
		    !pfsim_napi::Records(env, op, "values", values.ByteLength(),
					 sizeof(struct pf_lpm_val), &n_values))
			return env.Undefined();
		a.ext_slots = ext_slots.Data();
		a.ext = ext.Data();
		a.ext_count = n_ext;
		a.new_tries = new_tries.Data();
		a.new_trie_count = static_cast<uint32_t>(new_tries.ElementLength());
		a.pod_addrs = pod_addrs.Data();
		a.pod_states = pod_states.Data();
		a.pod_count = n_pods;
		a.lpm_keys = lpm_keys.Data();
		a.lpm_tries = lpm_tries.Data();
		a.lpm_values = lpm_values.Data();
		a.lpm_count = n_lpm;
		a.lpm_fill = fill;
		a.values = values.Data();
		a.value_count = n_values;
		a.gone_tries = gone.Data();
		a.gone_trie_count = static_cast<uint32_t>(gone.ElementLength());
		if (pfb_apply_delta(c_, &a, &ops, &err)) {
			ThrowNative(env, err.msg);
			return env.Undefined();
		}
		return Napi::Number::New(env, ops);
	}

	Napi::Value Dump(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfb_dump d;
		struct pfb_err err;
		Napi::Object o;

		if (!Live(env, "dump"))
			return env.Undefined();
		if (pfb_dump(c_, &d, &err)) {
			ThrowNative(env, err.msg);
			return env.Undefined();
		}
		o = Napi::Object::New(env);
		auto bytes = [&](const uint8_t *p, size_t n) {
			Napi::Uint8Array a = Napi::Uint8Array::New(env, n);
			if (n)
				memcpy(a.Data(), p, n);
			return a;
		};
		Napi::Uint32Array tries = Napi::Uint32Array::New(env, d.trie_count);
		if (d.trie_count)
			memcpy(tries.Data(), d.tries, sizeof(uint32_t) * d.trie_count);
		o.Set("pods", bytes(d.pods, (size_t)d.pod_count *
						    (sizeof(struct pf_pod_key) + sizeof(struct pf_pod_state))));
		o.Set("tries", tries);
		o.Set("entries", bytes(d.entries, (size_t)d.entry_count * PFB_DUMP_ENTRY_BYTES));
		o.Set("ext", bytes(d.ext, (size_t)d.ext_count * sizeof(struct pf_port_entry)));
		pfb_dump_free(&d);
		return o;
	}

	Napi::Value ClassifyBatch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint8Array pkts;
		Napi::Uint32Array out;
		struct pfb_err err;
		uint32_t count;

		if (!Live(env, "classifyBatch"))
			return env.Undefined();
		if (!pfsim_napi::GetBatch(info, &pkts, &count, &out))
			return env.Undefined();
		if (pfb_classify_batch(c_, reinterpret_cast<const struct pf_pkt *>(pkts.Data()),
				       count, out.Data(), info[3].ToBoolean().Value() ? 1 : 0, &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	Napi::Value RunFrame(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint8Array frame;
		struct pfb_run run;
		struct pfb_err err;
		Napi::Object o;

		if (!Live(env, "runFrame") || !Frame(info, 0, "runFrame", &frame))
			return env.Undefined();
		if (pfb_run_frame(c_, frame.Data(), static_cast<uint32_t>(frame.ByteLength()),
				  info[1].ToBoolean().Value() ? 1 : 0, &run, &err)) {
			ThrowNative(env, err.msg);
			return env.Undefined();
		}
		o = Napi::Object::New(env);
		o.Set("retval", Napi::Number::New(env, run.retval));
		o.Set("verdict", Napi::Number::New(env, run.out[0]));
		o.Set("reason", Napi::Number::New(env, run.out[1]));
		o.Set("egress", Napi::Number::New(env, run.out[2]));
		o.Set("ingress", Napi::Number::New(env, run.out[3]));
		return o;
	}

	Napi::Value TimePerPacket(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint8Array frame;
		struct pfb_err err;
		uint32_t repeat, ns = 0;

		if (!Live(env, "timePerPacket") || !Frame(info, 0, "timePerPacket", &frame) ||
		    !U32(info, 1, "repeat", &repeat))
			return env.Undefined();
		if (repeat < 1 || repeat > INT32_MAX) {
			Napi::RangeError::New(env, "timePerPacket: repeat must be from 1 to 2^31-1")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (pfb_time_frame(c_, frame.Data(), static_cast<uint32_t>(frame.ByteLength()), repeat,
				   info[2].ToBoolean().Value() ? 1 : 0, &ns, &err)) {
			ThrowNative(env, err.msg);
			return env.Undefined();
		}
		return Napi::Number::New(env, ns);
	}

	Napi::Value ResetConntrack(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfb_err err;

		if (Live(env, "resetConntrack") && pfb_reset_ct(c_, &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	Napi::Value Attach(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfb_err err;

		if (!Live(env, "attach"))
			return env.Undefined();
		for (size_t i = 0; i < 3; i++) {
			if (!info[i].IsString()) {
				Napi::TypeError::New(env, "attach: netnsPath, fromIf and toIf must be strings")
					.ThrowAsJavaScriptException();
				return env.Undefined();
			}
		}
		if (pfb_attach(c_, info[0].As<Napi::String>().Utf8Value().c_str(),
			       info[1].As<Napi::String>().Utf8Value().c_str(),
			       info[2].As<Napi::String>().Utf8Value().c_str(), &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	Napi::Value Detach(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfb_err err;

		if (Live(env, "detach") && pfb_detach(c_, &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	Napi::Value SetStateful(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfb_err err;

		if (Live(env, "setStateful") &&
		    pfb_set_stateful(c_, info[0].ToBoolean().Value() ? 1 : 0, &err))
			ThrowNative(env, err.msg);
		return env.Undefined();
	}

	/* closes the program and maps now rather than at garbage collection */
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		pfb_free(c_);
		c_ = nullptr;
		return info.Env().Undefined();
	}

	struct pfb_classifier *c_ = nullptr;
};

} // namespace

void Init(Napi::Env env, Napi::Object exports)
{
	exports.Set("BpfClassifier", BpfClassifier::Define(env));
}

} // namespace pfsim_bpf
