package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.AcceptRequest
import app.weelo.api.models.Accepted
import app.weelo.api.models.ActiveBroadcast
import app.weelo.api.models.AssignDriverRequest
import app.weelo.api.models.AssignmentPage
import app.weelo.api.models.BroadcastBody
import app.weelo.api.models.BroadcastPage
import app.weelo.api.models.BroadcastStatus
import app.weelo.api.models.CancelRequest
import app.weelo.api.models.CreateBroadcastRequest
import app.weelo.api.models.DriverAssigned
import app.weelo.api.models.OpenBroadcastBody
import app.weelo.api.models.OpenBroadcastList
import app.weelo.api.models.Problem

interface BroadcastsApi {
    /**
     * POST v1/broadcasts/{id}/accept
     * Take one truck of a broadcast you were notified of.
     * Requires an &#x60;Idempotency-Key&#x60;. Exactly as many accepts win as there are trucks; the rest get 409. Your vehicle goes &#x60;on_trip&#x60;.
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only, or TRANSPORTER_NOT_VERIFIED (verification is required and pending)
     *  - 404: BROADCAST_NOT_FOUND (not notified to you), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: BROADCAST_FILLED, LINE_FILLED, BROADCAST_CLOSED (see state), BROADCAST_DECLINED, VEHICLE_UNAVAILABLE, ALREADY_ACCEPTED or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, NO_SUCH_LINE, VEHICLE_TYPE_MISMATCH or VEHICLE_SUBTYPE_MISMATCH (the vehicle does not fit the line), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param acceptRequest 
     * @return [Accepted]
     */
    @POST("v1/broadcasts/{id}/accept")
    suspend fun acceptBroadcast(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body acceptRequest: AcceptRequest): Response<Accepted>

    /**
     * PUT v1/truck-requests/{id}/driver
     * Assign or change the driver of a truck I took (accepted -&gt; assigned).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: TRUCK_REQUEST_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRUCK_REQUEST_NOT_ASSIGNABLE (see state)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param assignDriverRequest 
     * @return [DriverAssigned]
     */
    @PUT("v1/truck-requests/{id}/driver")
    suspend fun assignDriver(@Path("id") id: java.util.UUID, @Body assignDriverRequest: AssignDriverRequest): Response<DriverAssigned>

    /**
     * POST v1/broadcasts/{id}/cancel
     * Cancel my open broadcast. Trucks not yet taken are released; if a transporter&#39;s accept committed first, that truck stays taken.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: customers only
     *  - 404: BROADCAST_NOT_FOUND
     *  - 409: BROADCAST_FILLED or BROADCAST_CLOSED (see state): it ended before the cancel
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param cancelRequest 
     * @return [BroadcastBody]
     */
    @POST("v1/broadcasts/{id}/cancel")
    suspend fun cancelBroadcast(@Path("id") id: java.util.UUID, @Body cancelRequest: CancelRequest): Response<BroadcastBody>

    /**
     * POST v1/broadcasts
     * Post a search for trucks.
     * Requires an &#x60;Idempotency-Key&#x60; (UUID): repeating a request with the same key and body returns the first response; the same key with another body is 422. A customer has at most one open broadcast (409 &#x60;ACTIVE_BROADCAST_EXISTS&#x60;, or &#x60;replaceActive: true&#x60;).
     * Responses:
     *  - 201: Created (or, for a repeated Idempotency-Key, the first response again).
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: only customers create broadcasts
     *  - 409: ACTIVE_BROADCAST_EXISTS (see activeBroadcastId) or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED (see errors), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 429: RATE_LIMITED: at most 5 creates per minute (see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param idempotencyKey A UUID chosen by the client, the same for retries of one request.
     * @param createBroadcastRequest 
     * @return [BroadcastBody]
     */
    @POST("v1/broadcasts")
    suspend fun createBroadcast(@Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body createBroadcastRequest: CreateBroadcastRequest): Response<BroadcastBody>

    /**
     * POST v1/broadcasts/{id}/decline
     * Decline a broadcast you were notified of.
     * 
     * Responses:
     *  - 204: Declined; the broadcast no longer shows in your list.
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: BROADCAST_NOT_FOUND
     *  - 409: BROADCAST_FILLED or BROADCAST_CLOSED
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [Unit]
     */
    @POST("v1/broadcasts/{id}/decline")
    suspend fun declineBroadcast(@Path("id") id: java.util.UUID): Response<Unit>

    /**
     * GET v1/broadcasts/active
     * My open broadcast, if any.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: customers only
     *  - 404: BROADCAST_NOT_FOUND (also for someone else's broadcast)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [ActiveBroadcast]
     */
    @GET("v1/broadcasts/active")
    suspend fun getActiveBroadcast(): Response<ActiveBroadcast>

    /**
     * GET v1/broadcasts/{id}
     * One of my broadcasts: status, per-line filled/needed, accepted trucks.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: customers only
     *  - 404: BROADCAST_NOT_FOUND (also for someone else's broadcast)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [BroadcastBody]
     */
    @GET("v1/broadcasts/{id}")
    suspend fun getBroadcast(@Path("id") id: java.util.UUID): Response<BroadcastBody>

    /**
     * GET v1/transporters/me/broadcasts/{id}
     * One broadcast I was sent, in its current state (status, lines, remaining, deadline), also after it closed; one I was never sent is 404.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: BROADCAST_NOT_FOUND (also for one never sent to you)
     *  - 422: VALIDATION_FAILED (the id is not a UUID)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [OpenBroadcastBody]
     */
    @GET("v1/transporters/me/broadcasts/{id}")
    suspend fun getSentBroadcast(@Path("id") id: java.util.UUID): Response<OpenBroadcastBody>

    /**
     * GET v1/broadcasts
     * My broadcasts, newest first.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: customers only
     *  - 404: BROADCAST_NOT_FOUND (also for someone else's broadcast)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param status  (optional)
     * @param cursor  (optional)
     * @param limit 1 to 100, default 20. (optional)
     * @return [BroadcastPage]
     */
    @GET("v1/broadcasts")
    suspend fun listBroadcasts(@Query("status") status: BroadcastStatus? = null, @Query("cursor") cursor: kotlin.String? = null, @Query("limit") limit: kotlin.Long? = null): Response<BroadcastPage>

    /**
     * GET v1/transporters/me/assignments
     * Trucks I have taken, newest first.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param cursor  (optional)
     * @param limit 1 to 100, default 20. (optional)
     * @return [AssignmentPage]
     */
    @GET("v1/transporters/me/assignments")
    suspend fun listMyAssignments(@Query("cursor") cursor: kotlin.String? = null, @Query("limit") limit: kotlin.Long? = null): Response<AssignmentPage>

    /**
     * GET v1/transporters/me/broadcasts
     * Open broadcasts I was notified of and have not declined, with trucks remaining per line.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [OpenBroadcastList]
     */
    @GET("v1/transporters/me/broadcasts")
    suspend fun listMyOpenBroadcasts(): Response<OpenBroadcastList>

}
