package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.ConfirmHoldRequest
import app.weelo.api.models.HoldBody
import app.weelo.api.models.HoldList
import app.weelo.api.models.HoldRequest
import app.weelo.api.models.Problem

interface HoldsApi {
    /**
     * POST v1/holds/{id}/confirm
     * Confirm every held truck at once, one &#x60;{vehicleId, driverId}&#x60; per truck: each becomes a trip in &#x60;assigned&#x60; and its driver is told. One bad entry refuses the whole confirm (422 HOLD_CONFIRM_REFUSED listing each failing entry); after the hold expired it is a 409.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: HOLD_NOT_FOUND (also for someone else's hold)
     *  - 409: HOLD_EXPIRED, HOLD_ENDED (see state), HOLD_EXTEND_LIMIT, HOLD_AT_DEADLINE, BROADCAST_CLOSED, DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, HOLD_CONFIRM_REFUSED (entries: each failing assignment; nothing was confirmed), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param confirmHoldRequest 
     * @return [HoldBody]
     */
    @POST("v1/holds/{id}/confirm")
    suspend fun confirmHold(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body confirmHoldRequest: ConfirmHoldRequest): Response<HoldBody>

    /**
     * POST v1/holds/{id}/extend
     * Add &#x60;WEELO_HOLD_EXTEND_SECS&#x60; to an active hold: at most twice, never past the deadline.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: HOLD_NOT_FOUND (also for someone else's hold)
     *  - 409: HOLD_EXPIRED, HOLD_ENDED (see state), HOLD_EXTEND_LIMIT, HOLD_AT_DEADLINE, BROADCAST_CLOSED, DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, HOLD_CONFIRM_REFUSED (entries: each failing assignment; nothing was confirmed), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @return [HoldBody]
     */
    @POST("v1/holds/{id}/extend")
    suspend fun extendHold(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String): Response<HoldBody>

    /**
     * POST v1/broadcasts/{id}/holds
     * Hold up to &#x60;quantity&#x60; searching trucks of one line for &#x60;WEELO_HOLD_SECS&#x60; (never past the broadcast&#39;s deadline). Requires an &#x60;Idempotency-Key&#x60;. A partial hold says how many it got (&#x60;held&#x60;); none free is a 409. Held trucks are taken for everybody else, but the broadcast is not filled until they are confirmed.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only, or TRANSPORTER_NOT_VERIFIED (verification is required and pending)
     *  - 404: BROADCAST_NOT_FOUND (not notified to you)
     *  - 409: LINE_FILLED (no truck of the line is free), BROADCAST_FILLED, BROADCAST_CLOSED (see state), BROADCAST_DECLINED or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, NO_SUCH_LINE, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param holdRequest 
     * @return [HoldBody]
     */
    @POST("v1/broadcasts/{id}/holds")
    suspend fun holdTrucks(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body holdRequest: HoldRequest): Response<HoldBody>

    /**
     * GET v1/transporters/me/holds
     * My active holds, soonest to expire first.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [HoldList]
     */
    @GET("v1/transporters/me/holds")
    suspend fun listMyHolds(): Response<HoldList>

    /**
     * POST v1/holds/{id}/release
     * Give the held trucks back: they search again and the remaining count goes back up.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: HOLD_NOT_FOUND (also for someone else's hold)
     *  - 409: HOLD_EXPIRED, HOLD_ENDED (see state), HOLD_EXTEND_LIMIT, HOLD_AT_DEADLINE, BROADCAST_CLOSED, DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, HOLD_CONFIRM_REFUSED (entries: each failing assignment; nothing was confirmed), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @return [HoldBody]
     */
    @POST("v1/holds/{id}/release")
    suspend fun releaseHold(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String): Response<HoldBody>

}
