import type { TestProject } from "vitest/node";
import { startRgw, type RgwServer } from "./support/rgw.js";

/** What the tests receive with `inject("rgw")`: where the shared gateway is. */
export interface SharedRgw {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    rgw: SharedRgw;
  }
}

let rgw: RgwServer | undefined;

/** Starts one RADOS Gateway for the whole project; it is stopped (and its directory removed) at the end. */
export async function setup(project: TestProject): Promise<void> {
  rgw = await startRgw();
  project.provide("rgw", {
    endpoint: rgw.endpoint,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
  });
}

export async function teardown(): Promise<void> {
  await rgw?.stop();
  rgw = undefined;
}
