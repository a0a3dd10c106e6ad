// SPDX-License-Identifier: Apache-2.0
/*
 * addon.cc - the Classifier class for JavaScript: checks the shapes of the typed arrays it
 * is handed, then passes positional, checked arguments to the C classifier.
 *
 * No global mutable state: every Classifier owns its C state, and the class is defined
 * anew for each environment (main thread or worker) that loads the addon.
 */
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <linux/if_packet.h>
#include <sched.h>
#include <sys/socket.h>

#include <napi.h>

#include "capture/capture.h"
#include "classifier.h"
#include "napi_args.h"
#include "pool/order.h"
#include "bpf/bpf_addon.h"

namespace {

constexpr uint32_t kDefaultCtCapacity = 1u << 20;
constexpr size_t kPktBytes = 40;
constexpr size_t kOutWords = 4;

using pfsim_napi::GetTyped;
using pfsim_napi::GetU32;

void ThrowError(Napi::Env env, const std::string &msg)
{
	pfsim_napi::ThrowNative(env, msg);
}


class Classifier : public Napi::ObjectWrap<Classifier> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "Classifier",
				   {
					   InstanceMethod<&Classifier::Load>("load"),
					   InstanceMethod<&Classifier::ClassifyBatch>("classifyBatch"),
					   InstanceMethod<&Classifier::ResetConntrack>("resetConntrack"),
					   InstanceMethod<&Classifier::Stats>("stats"),
					   InstanceMethod<&Classifier::Close>("close"),
				   });
	}

	explicit Classifier(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Classifier>(info)
	{
		Napi::Env env = info.Env();
		uint32_t cap = kDefaultCtCapacity, max = 0;
		int ret;

		if (info.Length() > 0 && !info[0].IsUndefined()) {
			if (!info[0].IsObject()) {
				Napi::TypeError::New(env, "Classifier: options must be an object")
					.ThrowAsJavaScriptException();
				return;
			}
			Napi::Value v = info[0].As<Napi::Object>().Get("ctCapacity");
			if (env.IsExceptionPending())
				return;
			if (!v.IsUndefined()) {
				double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;

				if (!(d >= 8 && d <= (1u << 28)) ||
				    d != static_cast<double>(static_cast<uint32_t>(d)) ||
				    (static_cast<uint32_t>(d) & (static_cast<uint32_t>(d) - 1))) {
					Napi::RangeError::New(
						env, "Classifier: ctCapacity must be a power of two from 8 to 2^28")
						.ThrowAsJavaScriptException();
					return;
				}
				cap = static_cast<uint32_t>(d);
			}
			v = info[0].As<Napi::Object>().Get("ctMax");
			if (env.IsExceptionPending())
				return;
			if (!v.IsUndefined()) {
				double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;

				if (!(d >= 1 && d <= cap - cap / 8) ||
				    d != static_cast<double>(static_cast<uint32_t>(d))) {
					Napi::RangeError::New(
						env, "Classifier: ctMax must be an integer from 1 to 7/8 of ctCapacity")
						.ThrowAsJavaScriptException();
					return;
				}
				max = static_cast<uint32_t>(d);
			}
		}
		ret = pfs_classifier_new(cap, &c_);
		if (!ret && max)
			ret = pfs_classifier_set_ct_max(c_, max);
		if (ret)
			ThrowError(env, std::string("Classifier: ") + std::strerror(-ret));
	}

	~Classifier() override { pfs_classifier_free(c_); }

private:
	bool Live(Napi::Env env, const char *op)
	{
		if (c_)
			return true;
		ThrowError(env, std::string(op) + ": classifier is closed");
		return false;
	}

	Napi::Value Load(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pf_load_arrays a;
		struct pfs_load_err err;
		int ret;

		if (!Live(env, "load") || !pfsim_napi::GetLoadArrays(info, "load", &a))
			return env.Undefined();
		if (a.trie_count > PFS_MAX_TRIES) {
			ThrowError(env, "load: trieCount: " + std::to_string(a.trie_count) + " exceeds " +
						std::to_string(PFS_MAX_TRIES));
			return env.Undefined();
		}
		ret = pfs_classifier_load(c_, &a, &err);
		if (ret == -EINVAL && err.arg) {
			ThrowError(env, std::string("load: ") + err.arg + "[" +
						std::to_string(err.index) + "]: " + err.what);
		} else if (ret) {
			ThrowError(env, std::string("load: ") + std::strerror(-ret));
		}
		return env.Undefined();
	}

	Napi::Value ClassifyBatch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint8Array pkts;
		Napi::Uint32Array out, times;
		uint32_t count;

		if (!Live(env, "classifyBatch"))
			return env.Undefined();
		if (!pfsim_napi::GetBatch(info, &pkts, &count, &out))
			return env.Undefined();
		/* times: optional trace seconds per packet, for conntrack aging */
		if (info.Length() > 4 && !info[4].IsUndefined()) {
			if (!GetTyped(info, 4, "times", napi_uint32_array, &times))
				return env.Undefined();
			if (times.ElementLength() < count) {
				Napi::RangeError::New(env, "classifyBatch: times holds " +
							       std::to_string(times.ElementLength()) +
							       " packets, count is " + std::to_string(count))
					.ThrowAsJavaScriptException();
				return env.Undefined();
			}
		}
		pfs_classify_batch_at(c_, reinterpret_cast<const struct pf_pkt *>(pkts.Data()), count,
				      times.IsEmpty() ? nullptr : times.Data(), out.Data(),
				      info[3].ToBoolean().Value() ? 1 : 0);
		return env.Undefined();
	}

	Napi::Value ResetConntrack(const Napi::CallbackInfo &info)
	{
		if (Live(info.Env(), "resetConntrack"))
			pfs_classifier_reset_ct(c_);
		return info.Env().Undefined();
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct pfs_stats st;
		Napi::Object o;

		if (!Live(env, "stats"))
			return env.Undefined();
		pfs_classifier_stats(c_, &st);
		o = Napi::Object::New(env);
		o.Set("ctEntries", Napi::Number::New(env, static_cast<double>(st.ct_entries)));
		o.Set("ctCapacity", Napi::Number::New(env, static_cast<double>(st.ct_capacity)));
		o.Set("ctInsertFailed",
		      Napi::Number::New(env, static_cast<double>(st.ct_insert_failed)));
		o.Set("ctMax", Napi::Number::New(env, static_cast<double>(st.ct_max)));
		o.Set("ctEarlyDrops", Napi::Number::New(env, static_cast<double>(st.ct_early_drops)));
		o.Set("ctExpired", Napi::Number::New(env, static_cast<double>(st.ct_expired)));
		o.Set("lpmBytes", Napi::Number::New(env, static_cast<double>(st.lpm_bytes)));
		return o;
	}

	/* frees the native state now rather than at garbage collection */
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		pfs_classifier_free(c_);
		c_ = nullptr;
		return info.Env().Undefined();
	}

	struct pfs_classifier *c_ = nullptr;
};

/*
 * CaptureParser: a streaming capture file parser (native/src/capture/capture.h). The caller
 * reads the file into a chunk buffer and hands in the bytes from the parser's position on;
 * each call writes whole packet records into caller-owned pkts (40-byte struct pf_pkt) and
 * meta (PFC_META_WORDS u32 words each) arrays. A file error throws an Error with code
 * PFSIM_ERR_CAPTURE, `offset` (the byte offset) and message "byte offset N: what"; when the
 * failing call had already written packets, it returns them and the next call throws.
 */
class CaptureParser : public Napi::ObjectWrap<CaptureParser> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(
			env, "CaptureParser",
			{
				InstanceMethod<&CaptureParser::Parse>("parse"),
				InstanceMethod<&CaptureParser::Stats>("stats"),
				InstanceMethod<&CaptureParser::Close>("close"),
				StaticValue("MAX_RECORD", Napi::Number::New(env, PFC_MAX_RECORD)),
				StaticValue("MAX_CAPLEN", Napi::Number::New(env, PFC_MAX_CAPLEN)),
				StaticValue("META_WORDS", Napi::Number::New(env, PFC_META_WORDS)),
			});
	}

	explicit CaptureParser(const Napi::CallbackInfo &info)
		: Napi::ObjectWrap<CaptureParser>(info)
	{
		int ret = pfc_parser_new(&p_);

		if (ret)
			ThrowError(info.Env(), std::string("CaptureParser: ") + std::strerror(-ret));
	}

	~CaptureParser() override { pfc_parser_free(p_); }

private:
	bool Live(Napi::Env env, const char *op)
	{
		if (p_)
			return true;
		ThrowError(env, std::string(op) + ": capture parser is closed");
		return false;
	}

	void ThrowCapture(Napi::Env env)
	{
		__u64 off = 0;
		const char *what = pfc_error(p_, &off);
		Napi::Error err = Napi::Error::New(
			env, "byte offset " + std::to_string(off) + ": " + (what ? what : "unknown"));

		err.Set("code", Napi::String::New(env, "PFSIM_ERR_CAPTURE"));
		err.Set("offset", Napi::Number::New(env, static_cast<double>(off)));
		err.ThrowAsJavaScriptException();
	}

	/* parse(chunk, length, fileOffset, pkts, meta, maxPackets, final?) -> {consumed, count, need} */
	Napi::Value Parse(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		Napi::Uint8Array chunk, pkts;
		Napi::Uint32Array meta;
		struct pfc_result res;
		uint32_t length, max;
		double at;
		Napi::Object o;
		int ret;

		if (!Live(env, "parse"))
			return env.Undefined();
		if (!GetTyped(info, 0, "chunk", napi_uint8_array, &chunk) ||
		    !GetU32(info, 1, "length", &length))
			return env.Undefined();
		if (!info[2].IsNumber()) {
			Napi::TypeError::New(env, "fileOffset: not a number").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		at = info[2].As<Napi::Number>().DoubleValue();
		if (!GetTyped(info, 3, "pkts", napi_uint8_array, &pkts) ||
		    !GetTyped(info, 4, "meta", napi_uint32_array, &meta) ||
		    !GetU32(info, 5, "maxPackets", &max))
			return env.Undefined();
		if (length > chunk.ByteLength()) {
			Napi::RangeError::New(env, "parse: length " + std::to_string(length) +
						       " exceeds the chunk's " +
						       std::to_string(chunk.ByteLength()) + " bytes")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (at != static_cast<double>(pfc_position(p_))) {
			Napi::RangeError::New(env, "parse: fileOffset " + std::to_string(at) +
						       ", the parser is at " +
						       std::to_string(pfc_position(p_)))
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (pkts.ByteLength() / kPktBytes < max || meta.ElementLength() / PFC_META_WORDS < max) {
			Napi::RangeError::New(env, "parse: pkts holds " +
						       std::to_string(pkts.ByteLength() / kPktBytes) +
						       " and meta " +
						       std::to_string(meta.ElementLength() / PFC_META_WORDS) +
						       " packets, maxPackets is " + std::to_string(max))
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (reinterpret_cast<uintptr_t>(pkts.Data()) & 1) {
			Napi::RangeError::New(env, "parse: pkts must start at an even byte offset")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		ret = pfc_parse(p_, chunk.Data(), length, info[6].ToBoolean().Value() ? 1 : 0,
				reinterpret_cast<struct pf_pkt *>(pkts.Data()),
				reinterpret_cast<struct pfc_meta *>(meta.Data()), max, &res);
		if (ret == -EINVAL && res.count == 0) {
			ThrowCapture(env);
			return env.Undefined();
		}
		if (ret && ret != -EINVAL) {
			ThrowError(env, std::string("parse: ") + std::strerror(-ret));
			return env.Undefined();
		}
		o = Napi::Object::New(env);
		o.Set("consumed", Napi::Number::New(env, res.consumed));
		o.Set("count", Napi::Number::New(env, res.count));
		o.Set("need", Napi::Number::New(env, res.need));
		return o;
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		static const char *const formats[] = { "none", "pcap", "pcapng" };
		Napi::Env env = info.Env();
		struct pfc_stats st;
		Napi::Object o;
		Napi::Array by;

		if (!Live(env, "stats"))
			return env.Undefined();
		pfc_stats(p_, &st);
		o = Napi::Object::New(env);
		by = Napi::Array::New(env, PFC_STATUS_COUNT);
		for (uint32_t i = 0; i < PFC_STATUS_COUNT; i++)
			by.Set(i, Napi::Number::New(env, static_cast<double>(st.status[i])));
		o.Set("packets", Napi::Number::New(env, static_cast<double>(st.packets)));
		o.Set("byStatus", by);
		o.Set("bytes", Napi::Number::New(env, static_cast<double>(st.bytes)));
		o.Set("format", Napi::String::New(env, formats[st.format < 3 ? st.format : 0]));
		o.Set("sections", Napi::Number::New(env, st.sections));
		o.Set("interfaces", Napi::Number::New(env, st.interfaces));
		o.Set("fragRemembered", Napi::Number::New(env, static_cast<double>(st.frag_remembered)));
		o.Set("fragEvicted", Napi::Number::New(env, static_cast<double>(st.frag_evicted)));
		return o;
	}

	/* frees the native state now rather than at garbage collection */
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		pfc_parser_free(p_);
		p_ = nullptr;
		return info.Env().Undefined();
	}

	struct pfc_parser *p_ = nullptr;
};

/*
 * packetStats(fd) -> {packets, drops}: the counters of an AF_PACKET socket (a live capture's,
 * src/live/source.ts) since the previous call, since reading them resets them. packets counts
 * every frame the socket's filter accepted, drops those the full ring had no room for.
 */
Napi::Value PacketStats(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);
	Napi::Object o;
	uint32_t fd;

	if (!GetU32(info, 0, "fd", &fd))
		return env.Undefined();
	std::memset(&st, 0, sizeof(st));
	if (getsockopt(static_cast<int>(fd), SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) {
		ThrowError(env, std::string("packetStats: ") + std::strerror(errno));
		return env.Undefined();
	}
	o = Napi::Object::New(env);
	o.Set("packets", Napi::Number::New(env, st.tp_packets));
	o.Set("drops", Napi::Number::New(env, st.tp_drops));
	return o;
}

/*
 * shareOut(meta, count, slots, order, starts, owner) -> skipped: pfc_share_out over the first
 * count records of a parsed batch (src/pool/flow-hash.ts). Every array is checked to hold what
 * the call writes or reads; a short one is a thrown RangeError naming it.
 */
Napi::Value ShareOut(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Uint32Array meta, order, starts;
	Napi::Uint8Array owner;
	uint32_t count, slots;
	std::string why;

	if (!GetTyped(info, 0, "meta", napi_uint32_array, &meta) || !GetU32(info, 1, "count", &count) ||
	    !GetU32(info, 2, "slots", &slots) ||
	    !GetTyped(info, 3, "order", napi_uint32_array, &order) ||
	    !GetTyped(info, 4, "starts", napi_uint32_array, &starts) ||
	    !GetTyped(info, 5, "owner", napi_uint8_array, &owner))
		return env.Undefined();
	const std::string of_count = ", count is " + std::to_string(count);

	if (slots < 1 || slots > 255)
		why = "slots " + std::to_string(slots) + " is not in 1..255";
	else if (meta.ElementLength() / PFC_META_WORDS < count)
		why = "meta holds " + std::to_string(meta.ElementLength() / PFC_META_WORDS) +
		      " records" + of_count;
	else if (order.ElementLength() < count)
		why = "order holds " + std::to_string(order.ElementLength()) + " positions" + of_count;
	else if (owner.ElementLength() < count)
		why = "owner holds " + std::to_string(owner.ElementLength()) + " slots" + of_count;
	else if (starts.ElementLength() < static_cast<size_t>(slots) + 1)
		why = "starts holds " + std::to_string(starts.ElementLength()) + " entries, slots is " +
		      std::to_string(slots);
	if (!why.empty()) {
		Napi::RangeError::New(env, "shareOut: " + why).ThrowAsJavaScriptException();
		return env.Undefined();
	}
	return Napi::Number::New(
		env, pfc_share_out(reinterpret_cast<const struct pfc_meta *>(meta.Data()), count, slots,
				   order.Data(), starts.Data(), owner.Data()));
}

/*
 * orderFlows(firsts, groups, limit, outSlot, outId, taken, groupLen) -> placed: pfp_order_flows
 * over the slots' flow lists (src/pool/collect.ts): firsts[s] (Float64Array) and groups[s]
 * (Uint8Array) of equal length per slot. Every array is checked to hold what the call reads or
 * writes; a bad one is a thrown TypeError or RangeError naming it.
 */
Napi::Value OrderFlows(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Uint8Array out_slot, group_v;
	Napi::Uint32Array out_id, taken, group_len;
	Napi::Float64Array first_v;
	uint32_t limit, slots, s;
	uint64_t total = 0;
	std::string why;

	if (!info[0].IsArray() || !info[1].IsArray()) {
		Napi::TypeError::New(env, "orderFlows: firsts and groups must be arrays")
			.ThrowAsJavaScriptException();
		return env.Undefined();
	}
	Napi::Array firsts = info[0].As<Napi::Array>(), groups = info[1].As<Napi::Array>();
	if (!GetU32(info, 2, "limit", &limit) ||
	    !GetTyped(info, 3, "outSlot", napi_uint8_array, &out_slot) ||
	    !GetTyped(info, 4, "outId", napi_uint32_array, &out_id) ||
	    !GetTyped(info, 5, "taken", napi_uint32_array, &taken) ||
	    !GetTyped(info, 6, "groupLen", napi_uint32_array, &group_len))
		return env.Undefined();
	slots = firsts.Length();
	std::vector<const double *> first(slots);
	std::vector<const uint8_t *> group(slots);
	std::vector<uint32_t> count(slots);
	if (slots < 1 || slots > PFP_MAX_SLOTS || groups.Length() != slots)
		why = std::to_string(slots) + " slots' firsts and " + std::to_string(groups.Length()) +
		      " slots' groups (1.." + std::to_string(PFP_MAX_SLOTS) + " slots, the same)";
	for (s = 0; why.empty() && s < slots; s++) {
		Napi::Value f = firsts[s], g = groups[s];
		if (!f.IsTypedArray() || f.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
		    !g.IsTypedArray() || g.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
			Napi::TypeError::New(env, "orderFlows: slot " + std::to_string(s) +
						       ": firsts must be a Float64Array and groups a Uint8Array")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		first_v = f.As<Napi::Float64Array>();
		group_v = g.As<Napi::Uint8Array>();
		if (first_v.ElementLength() != group_v.ElementLength() || first_v.ElementLength() > UINT32_MAX) {
			why = "slot " + std::to_string(s) + " has " + std::to_string(first_v.ElementLength()) +
			      " firsts and " + std::to_string(group_v.ElementLength()) + " groups";
			break;
		}
		first[s] = first_v.Data();
		group[s] = group_v.Data();
		count[s] = static_cast<uint32_t>(first_v.ElementLength());
		total += count[s];
	}
	const uint64_t n = total < limit ? total : limit;
	if (why.empty() && (out_slot.ElementLength() < n || out_id.ElementLength() < n))
		why = "outSlot and outId hold " + std::to_string(out_slot.ElementLength()) + " and " +
		      std::to_string(out_id.ElementLength()) + " flows, " + std::to_string(n) + " are placed";
	else if (why.empty() && taken.ElementLength() < slots)
		why = "taken holds " + std::to_string(taken.ElementLength()) + " entries, slots is " +
		      std::to_string(slots);
	else if (why.empty() && group_len.ElementLength() < PFP_GROUPS)
		why = "groupLen holds " + std::to_string(group_len.ElementLength()) +
		      " entries, groups are " + std::to_string(PFP_GROUPS);
	if (!why.empty()) {
		Napi::RangeError::New(env, "orderFlows: " + why).ThrowAsJavaScriptException();
		return env.Undefined();
	}
	const int64_t placed = pfp_order_flows(slots, first.data(), group.data(), count.data(), limit,
					       out_slot.Data(), out_id.Data(), taken.Data(), group_len.Data());
	if (placed < 0) {
		Napi::RangeError::New(env, "orderFlows: a group is not in 0.." +
					       std::to_string(PFP_GROUPS - 1))
			.ThrowAsJavaScriptException();
		return env.Undefined();
	}
	return Napi::Number::New(env, static_cast<double>(placed));
}

/*
 * threadCpus() -> [cpu, …]: the CPUs the calling thread may run on (sched_getaffinity), in
 * ascending order. setThreadCpus([cpu, …]): lets the calling thread run on those only. Both act
 * on the calling thread alone (the pool's reader spreads its share over the workers' cores:
 * src/pool/spread.ts). Errors are thrown with errno's text; a CPU number must be below
 * CPU_SETSIZE.
 */
Napi::Value ThreadCpus(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	cpu_set_t set;
	Napi::Array out;
	uint32_t n = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		ThrowError(env, std::string("threadCpus: ") + std::strerror(errno));
		return env.Undefined();
	}
	out = Napi::Array::New(env);
	for (uint32_t cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			out.Set(n++, Napi::Number::New(env, cpu));
	return out;
}

Napi::Value SetThreadCpus(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	cpu_set_t set;
	Napi::Array cpus;

	if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
		Napi::TypeError::New(env, "setThreadCpus: cpus: not a non-empty array")
			.ThrowAsJavaScriptException();
		return env.Undefined();
	}
	cpus = info[0].As<Napi::Array>();
	CPU_ZERO(&set);
	for (uint32_t i = 0; i < cpus.Length(); i++) {
		Napi::Value v = cpus.Get(i);
		double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;

		if (!(d >= 0 && d < CPU_SETSIZE) || d != static_cast<double>(static_cast<uint32_t>(d))) {
			Napi::RangeError::New(env, "setThreadCpus: cpus[" + std::to_string(i) +
						       "] is not a CPU number below " +
						       std::to_string(CPU_SETSIZE))
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		CPU_SET(static_cast<uint32_t>(d), &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		ThrowError(env, std::string("setThreadCpus: ") + std::strerror(errno));
	return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	exports.Set("Classifier", Classifier::Define(env));
	exports.Set("CaptureParser", CaptureParser::Define(env));
	exports.Set("packetStats", Napi::Function::New<PacketStats>(env, "packetStats"));
	exports.Set("shareOut", Napi::Function::New<ShareOut>(env, "shareOut"));
	exports.Set("orderFlows", Napi::Function::New<OrderFlows>(env, "orderFlows"));
	exports.Set("threadCpus", Napi::Function::New<ThreadCpus>(env, "threadCpus"));
	exports.Set("setThreadCpus", Napi::Function::New<SetThreadCpus>(env, "setThreadCpus"));
	pfsim_bpf::Init(env, exports);
	return exports;
}

} // namespace

NODE_API_MODULE(pfsim, Init)
