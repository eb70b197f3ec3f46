# Builds both native artifacts of @nbdts/native (scripts/build-native.mjs runs
# node-gyp with --nodedir, so the build never downloads Node's headers):
#   nbdts_native.node     the Node-API addon the host uses for the ring
#   nbdkit-ts-plugin.so   the nbdkit plugin (plain C; links only libc, and
#                         resolves nbdkit_* from the nbdkit binary at load)
{
  "variables": {
    "nbdts_version": "<!(node -p \"require('./package.json').version\")"
  },
  "targets": [
    {
      "target_name": "nbdts_native",
      "sources": ["src/addon/ring.cc", "src/addon/fileio.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "nbdkit-ts-plugin",
      "type": "shared_library",
      "product_prefix": "",
      "product_extension": "so",
      "sources": ["src/shim/plugin.c", "src/shim/channel.c"],
      "cflags": [
        "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
        "-fvisibility=hidden", "<!@(pkg-config --cflags nbdkit)"
      ],
      "defines": ["NBDTS_VERSION=\"<(nbdts_version)\""],
      "defines!": ["USING_UV_SHARED=1", "USING_V8_SHARED=1", "V8_DEPRECATION_WARNINGS=1",
                   "V8_DEPRECATION_WARNINGS", "V8_IMMINENT_DEPRECATION_WARNINGS",
                   "BUILDING_NODE_EXTENSION"],
      "include_dirs!": [
        "<(node_root_dir)/include/node",
        "<(node_root_dir)/src",
        "<(node_root_dir)/deps/openssl/config",
        "<(node_root_dir)/deps/openssl/openssl/include",
        "<(node_root_dir)/deps/uv/include",
        "<(node_root_dir)/deps/zlib",
        "<(node_root_dir)/deps/v8/include"
      ]
    }
  ]
}
