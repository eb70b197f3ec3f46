/**
 * @nbdts/s3 against nbdkit's S3 plugin (Python + boto3) on the same S3
 * server, a throwaway Ceph RADOS Gateway started for the run by
 * plugins/s3/test/support/rgw.ts and stopped (by PID) at the end (issue 7).
 *
 * Both plugins use 1 MiB objects. nbdkit's S3 plugin advertises its object
 * size as the minimum block size, which nbdkit limits to 64 KiB, so it runs
 * with the blocksize-policy filter (as nbdkit-S3-plugin's own 128k example
 * would need). Credentials reach both through the standard AWS environment
 * variables, so they never appear on a command line.
 */

import type { Row, ServerSpec, Suite, SuiteContext } from "../model.js";
import { cPlugin, firstReason, nbdkitPluginMissing, packageMissing, programMissing, shimMissing, tsPlugin } from "../servers.js";
import { NBDCOPY_OUT, SEQ_READ_1M_QD8, SEQ_WRITE_1M_QD8 } from "../workloads.js";

const BUCKET = "nbdts-bench";
const OBJECT_SIZE = 1024 * 1024;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Endpoint {
  readonly url: string;
  readonly env: Readonly<Record<string, string>>;
}

function peer(id: string, key: string, size: number, endpoint: Endpoint): ServerSpec {
  return cPlugin(
    id,
    "nbdkit S3",
    "S3",
    {
      "endpoint-url": endpoint.url,
      bucket: BUCKET,
      key,
      size,
      "object-size": OBJECT_SIZE,
      "blocksize-minimum": 1,
      "blocksize-preferred": OBJECT_SIZE,
      "blocksize-maximum": 32 * MiB,
    },
    { nbdkitOptions: ["--filter=blocksize-policy"], env: endpoint.env },
  );
}

function ours(id: string, key: string, size: number, endpoint: Endpoint): ServerSpec {
  return tsPlugin(
    id,
    "@nbdts/s3",
    "@nbdts/s3",
    { "endpoint-url": endpoint.url, bucket: BUCKET, key, size, "object-size": OBJECT_SIZE },
    { env: endpoint.env },
  );
}

export function s3Rows(context: SuiteContext, endpoint: Endpoint): Row[] {
  // S3 is slow next to RAM: a smaller region keeps the untimed precondition short.
  const seqDisk = context.quick ? context.diskBytes : GiB;
  const seqData = context.quick ? context.datasetBytes : 256 * MiB;
  const sparseDisk = context.quick ? context.diskBytes : GiB;
  const sparseData = context.quick ? 4 * MiB : 16 * MiB;
  return [
    {
      id: "s3-sequential",
      title: "@nbdts/s3 vs nbdkit S3 (Python), 1 MiB objects, sequential",
      servers: [peer("peer-s3", "bench-seq-peer", seqDisk, endpoint), ours("ts-s3", "bench-seq-ts", seqDisk, endpoint)],
      reference: "peer-s3",
      workloads: [SEQ_WRITE_1M_QD8, SEQ_READ_1M_QD8],
      diskBytes: seqDisk,
      datasetBytes: seqData,
      precondition: true,
      flush: "end",
      targets: [
        { workload: "seq-write-1m-qd8", server: "ts-s3", bound: 3 },
        { workload: "seq-read-1m-qd8", server: "ts-s3", bound: 3 },
      ],
      notes: [
        "Flush policy: each write workload ends with one NBD flush inside the timed part (fio end_fsync=1): every acknowledged write is in S3 before the number is taken.",
      ],
    },
    {
      id: "s3-sparse",
      title: "@nbdts/s3 vs nbdkit S3 (Python): reading a mostly-empty disk",
      servers: [
        peer("peer-s3", "bench-sparse-peer", sparseDisk, endpoint),
        ours("ts-s3", "bench-sparse-ts", sparseDisk, endpoint),
      ],
      reference: "peer-s3",
      workloads: [{ ...NBDCOPY_OUT, id: "sparse-read", title: "nbdcopy out, mostly-empty disk" }],
      diskBytes: sparseDisk,
      datasetBytes: sparseData,
      precondition: true,
      flush: "none",
      nbdcopyOutCounts: "disk",
      targets: [{ workload: "sparse-read", server: "ts-s3", bound: 10 }],
      notes: [
        `The disk holds ${sparseData / MiB} MiB of data at its start; MiB/s counts the whole disk (${sparseDisk / MiB} MiB) over the wall time of nbdcopy.`,
      ],
    },
  ];
}

export const s3: Suite = {
  name: "s3",
  description: "@nbdts/s3 vs nbdkit S3 (Python) on a throwaway Ceph RADOS Gateway",
  rowIds: ["s3-sequential", "s3-sparse"],
  unavailable: () =>
    firstReason(
      shimMissing,
      () => packageMissing("@nbdts/s3"),
      () => programMissing("radosgw", "radosgw"),
      () => programMissing("ceph-mon", "ceph-mon"),
      () => programMissing("ceph-osd", "ceph-osd"),
      () => nbdkitPluginMissing("S3", "Debian packages nbdkit-plugin-python and python3-boto3"),
    ),
  prepare: async (context) => {
    // Loaded here, not at the top, so that other suites do not pay for the AWS SDK.
    // The SDK's warning about Node 20 is about the SDK's future releases, not
    // this run; it would only clutter the table's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const { startRgw } = await import("../../../plugins/s3/test/support/rgw.js");
    const { CreateBucketCommand, S3Client } = await import("@aws-sdk/client-s3");
    const rgw = await startRgw({ log: (line) => context.log(`rgw: ${line}`) });
    try {
      const client = new S3Client({
        endpoint: rgw.endpoint,
        region: rgw.region,
        credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
        forcePathStyle: true,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      });
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      client.destroy();
    } catch (error) {
      await rgw.stop();
      throw error;
    }
    const endpoint: Endpoint = {
      url: rgw.endpoint,
      env: {
        AWS_ACCESS_KEY_ID: rgw.accessKeyId,
        AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
        AWS_REGION: rgw.region,
        AWS_DEFAULT_REGION: rgw.region,
        AWS_EC2_METADATA_DISABLED: "true",
      },
    };
    return { rows: s3Rows(context, endpoint), cleanup: () => rgw.stop() };
  },
};
