// Drives the GENERATED TypeScript SDK (openapi/sdk/typescript) against a live weelo-api:
// sign in with an OTP, create a broadcast (with an Idempotency-Key, replayed once), read it,
// cancel it, and check that errors arrive as RFC 7807 problems with a stable `code`.
// Every call goes through the SDK's typed methods; no raw fetch.
//
// Environment (set by scripts/contract-check):
//   WEELO_API_URL   base URL of the running API, e.g. http://127.0.0.1:18080
//   WEELO_API_LOG   the API's JSON log (stdout); the development SMS sender logs each OTP there
//                   as {"message":"development SMS: OTP code","to":"+91...","otp":"123456"}
// Exits 0 when every assertion holds, 1 otherwise.

import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";

import {
  AuthApi,
  BroadcastStatus,
  BroadcastsApi,
  Configuration,
  CreateBroadcastRequest,
  MeApi,
  Problem,
  ProblemFromJSON,
  ResponseError,
  RoleDto,
  VehicleType,
} from "../../sdk/typescript/src";

const baseUrl = required("WEELO_API_URL");
const logPath = required("WEELO_API_LOG");
const phone = process.env.WEELO_SDK_TEST_PHONE ?? "+919800000101";

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

let steps = 0;
function step(name: string): void {
  steps += 1;
  console.log(`  ok ${steps} - ${name}`);
}

/** The OTP the API logged for `to` after byte `from` of its log, polled for up to 5 s. */
async function otpFromLog(to: string, from: number): Promise<string> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const size = statSync(logPath).size;
    if (size > from) {
      const buf = Buffer.alloc(size - from);
      const fd = openSync(logPath, "r");
      try {
        readSync(fd, buf, 0, buf.length, from);
      } finally {
        closeSync(fd);
      }
      let code: string | undefined;
      for (const line of buf.toString("utf8").split("\n")) {
        if (!line.includes('"otp"')) continue;
        try {
          const rec = JSON.parse(line) as { to?: string; otp?: string };
          if (rec.to === to && rec.otp) code = rec.otp;
        } catch {
          // a partial last line; the next poll reads it whole
        }
      }
      if (code) return code;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no OTP for ${to} in ${logPath} within 5 s`);
}

/** Runs `call`, expects it to fail with HTTP `status`, returns the parsed problem body. */
async function expectProblem(status: number, call: () => Promise<unknown>): Promise<Problem> {
  try {
    await call();
  } catch (e) {
    if (!(e instanceof ResponseError)) throw e;
    assert.equal(e.response.status, status, `expected HTTP ${status}`);
    assert.match(e.response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const problem = ProblemFromJSON(await e.response.json());
    assert.equal(problem.status, status);
    assert.ok(problem.code && /^[A-Z][A-Z0-9_]+$/.test(problem.code), `stable code, got ${problem.code}`);
    return problem;
  }
  assert.fail(`expected HTTP ${status}, the call succeeded`);
}

async function main(): Promise<void> {
  console.log(`TypeScript SDK against ${baseUrl}`);
  const anonymous = new Configuration({ basePath: baseUrl });
  const auth = new AuthApi(anonymous);

  // --- sign in ---------------------------------------------------------------------------
  const from = statSync(logPath).size;
  const sent = await auth.requestOtp({ otpRequest: { phone, role: RoleDto.Customer } });
  assert.ok(sent.sentTo.endsWith(phone.slice(-4)), `masked phone, got ${sent.sentTo}`);
  assert.ok(sent.sentTo.includes("*"), "the phone is masked");
  assert.ok(sent.expiresInSeconds > 0);
  step("requestOtp: 202, masked phone");

  const wrong = await expectProblem(401, () =>
    auth.verifyOtp({ otpVerify: { phone, role: RoleDto.Customer, code: "000000" } }),
  );
  // (a 1-in-a-million chance the real code is 000000 would fail here; the server draws it at random)
  assert.equal(wrong.code, "OTP_INVALID");
  assert.equal(typeof wrong.attemptsLeft, "number");
  step(`verifyOtp with a wrong code: 401 ${wrong.code}, attemptsLeft ${wrong.attemptsLeft}`);

  const code = await otpFromLog(phone, from);
  const tokens = await auth.verifyOtp({ otpVerify: { phone, role: RoleDto.Customer, code } });
  assert.equal(tokens.tokenType, "Bearer");
  assert.ok(tokens.accessToken.split(".").length === 3, "access token is a JWT");
  assert.ok(tokens.refreshToken.length > 0);
  assert.equal(tokens.user.role, RoleDto.Customer);
  assert.equal(tokens.user.phone, phone);
  assert.ok(tokens.user.createdAt instanceof Date && !isNaN(tokens.user.createdAt.getTime()));
  step("verifyOtp: tokens and user");

  const signedIn = new Configuration({ basePath: baseUrl, accessToken: async () => tokens.accessToken });
  const me = await new MeApi(signedIn).getMe();
  assert.equal(me.id, tokens.user.id);
  step("getMe with the bearer token");

  const noToken = await expectProblem(401, () => new MeApi(anonymous).getMe());
  assert.equal(noToken.code, "UNAUTHORIZED");
  step("getMe without a token: 401 UNAUTHORIZED problem");

  // --- broadcast lifecycle ---------------------------------------------------------------
  const broadcasts = new BroadcastsApi(signedIn);
  const request: CreateBroadcastRequest = {
    pickup: { lat: 19.076, lng: 72.8777, address: "Bhiwandi warehouse 4", city: "Mumbai" },
    drop: { lat: 18.5204, lng: 73.8567, address: "Chakan MIDC gate 2", city: "Pune" },
    vehicles: [{ type: "open", subtype: "open_17ft", count: 2, pricePerTruck: 1200 }],
  };

  const invalid = await expectProblem(422, () =>
    broadcasts.createBroadcast({
      idempotencyKey: randomUUID(),
      createBroadcastRequest: { ...request, vehicles: [{ ...request.vehicles[0], count: 0 }] },
    }),
  );
  assert.equal(invalid.code, "VALIDATION_FAILED");
  assert.ok(invalid.errors?.some((f) => f.field === "vehicles[0].count"), "field error for vehicles[0].count");
  step("createBroadcast with count 0: 422 VALIDATION_FAILED with a field error");

  const key = randomUUID();
  const created = await broadcasts.createBroadcast({ idempotencyKey: key, createBroadcastRequest: request });
  assert.equal(created.status, BroadcastStatus.Active);
  assert.equal(created.trucksNeeded, 2);
  assert.equal(created.trucksFilled, 0);
  assert.equal(created.lines.length, 1);
  assert.equal(created.lines[0].vehicleType, VehicleType.Open);
  assert.equal(created.lines[0].vehicleSubtype, "open_17ft");
  assert.equal(created.lines[0].pricePerTruck, 1200);
  assert.equal(created.pickup.city, "Mumbai");
  assert.ok(created.expiresAt > created.createdAt, "expiresAt after createdAt (both Dates)");
  step(`createBroadcast: 201 ${created.id}`);

  const replay = await broadcasts.createBroadcast({ idempotencyKey: key, createBroadcastRequest: request });
  assert.equal(replay.id, created.id, "same Idempotency-Key, same broadcast");
  step("createBroadcast replayed with the same Idempotency-Key: the same broadcast");

  const reused = await expectProblem(422, () =>
    broadcasts.createBroadcast({
      idempotencyKey: key,
      createBroadcastRequest: { ...request, vehicles: [{ ...request.vehicles[0], count: 3 }] },
    }),
  );
  assert.equal(reused.code, "IDEMPOTENCY_KEY_REUSED");
  step("the same Idempotency-Key with another body: 422 IDEMPOTENCY_KEY_REUSED");

  const second = await expectProblem(409, () =>
    broadcasts.createBroadcast({ idempotencyKey: randomUUID(), createBroadcastRequest: request }),
  );
  assert.equal(second.code, "ACTIVE_BROADCAST_EXISTS");
  assert.equal(second.activeBroadcastId, created.id);
  step("a second open broadcast: 409 ACTIVE_BROADCAST_EXISTS naming the open one");

  const read = await broadcasts.getBroadcast({ id: created.id });
  assert.equal(read.id, created.id);
  assert.equal(read.status, BroadcastStatus.Active);
  assert.deepEqual(read.lines, created.lines);
  step("getBroadcast: the same broadcast, active");

  const active = await broadcasts.getActiveBroadcast();
  assert.equal(active.broadcast?.id, created.id);
  step("getActiveBroadcast: it");

  const page = await broadcasts.listBroadcasts({ limit: 10 });
  assert.ok(page.items.some((b) => b.id === created.id), "listed in my broadcasts");
  step("listBroadcasts: listed");

  const cancelled = await broadcasts.cancelBroadcast({ id: created.id, cancelRequest: { reason: "sdk test" } });
  assert.equal(cancelled.id, created.id);
  assert.equal(cancelled.status, BroadcastStatus.Cancelled);
  assert.ok(cancelled.closedAt instanceof Date, "closedAt set");
  step(`cancelBroadcast: 200 ${cancelled.status} (${cancelled.terminalReason})`);

  const after = await broadcasts.getBroadcast({ id: created.id });
  assert.equal(after.status, BroadcastStatus.Cancelled);
  const none = await broadcasts.getActiveBroadcast();
  assert.ok(none.broadcast == null, "no open broadcast after the cancel");
  step("getBroadcast after the cancel: cancelled; no active broadcast");

  const again = await expectProblem(409, () =>
    broadcasts.cancelBroadcast({ id: created.id, cancelRequest: { reason: "again" } }),
  );
  step(`cancelBroadcast again: 409 ${again.code}`);

  const missing = await expectProblem(404, () => broadcasts.getBroadcast({ id: randomUUID() }));
  step(`getBroadcast of an unknown id: 404 ${missing.code}`);

  // --- sign out --------------------------------------------------------------------------
  await new AuthApi(signedIn).logout({ logoutRequest: { refreshToken: tokens.refreshToken } });
  const out = await expectProblem(401, () => new MeApi(signedIn).getMe());
  assert.equal(out.code, "UNAUTHORIZED");
  step("logout: the access token stops working");

  console.log(`TypeScript SDK test: ${steps} steps passed`);
}

main().catch((e: unknown) => {
  console.error("TypeScript SDK test FAILED:");
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
