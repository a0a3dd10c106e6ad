{
  "targets": [
    {
      "target_name": "pfsim",
      "sources": [
        "src/addon.cc",
        "src/bpf/bpf_addon.cc",
        "src/bpf/bpf_classifier.c",
        "src/bpf/bpf_frame.c",
        "src/capture/capture.c",
        "src/capture/decode.c",
        "src/classifier.c",
        "src/conntrack.c",
        "src/lpm.c",
        "src/podmap.c",
        "src/pool/order.c"
      ],
      "include_dirs": [
        "include",
        "src",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=c11"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions"],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-fno-rtti"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
