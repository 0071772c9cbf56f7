package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.CrewRequest
import app.weelo.api.models.DeclineTripRequest
import app.weelo.api.models.Problem
import app.weelo.api.models.TripBody
import app.weelo.api.models.TripPage
import app.weelo.api.models.TripStatusRequest

interface TripsApi {
    /**
     * POST v1/drivers/me/trips/{id}/accept
     * Accept a trip I was named for (before &#x60;respondBy&#x60;).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @return [TripBody]
     */
    @POST("v1/drivers/me/trips/{id}/accept")
    suspend fun acceptTrip(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String): Response<TripBody>

    /**
     * POST v1/drivers/me/trips/{id}/decline
     * Decline a trip I was named for; it goes back to my transporter.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param declineTripRequest 
     * @return [TripBody]
     */
    @POST("v1/drivers/me/trips/{id}/decline")
    suspend fun declineTrip(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body declineTripRequest: DeclineTripRequest): Response<TripBody>

    /**
     * GET v1/drivers/me/trips/{id}
     * One of my trips: pickup, drop, fare, customer, vehicle and &#x60;respondBy&#x60;.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: drivers only
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [TripBody]
     */
    @GET("v1/drivers/me/trips/{id}")
    suspend fun getMyTrip(@Path("id") id: java.util.UUID): Response<TripBody>

    /**
     * GET v1/drivers/me/trips
     * My trips, newest first (the current one is the first unfinished).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: drivers only
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip)
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param cursor  (optional)
     * @param limit 1 to 100, default 20. (optional)
     * @return [TripPage]
     */
    @GET("v1/drivers/me/trips")
    suspend fun listMyTrips(@Query("cursor") cursor: kotlin.String? = null, @Query("limit") limit: kotlin.Long? = null): Response<TripPage>

    /**
     * POST v1/trips/{id}/release
     * Give back a truck I cannot staff (before pickup): it searches again, or is cancelled when its broadcast can no longer search.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @return [TripBody]
     */
    @POST("v1/trips/{id}/release")
    suspend fun releaseTrip(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String): Response<TripBody>

    /**
     * PUT v1/trips/{id}/crew
     * Staff a trip again after its driver declined or timed out (before &#x60;restaffBy&#x60;).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param crewRequest 
     * @return [TripBody]
     */
    @PUT("v1/trips/{id}/crew")
    suspend fun restaffTrip(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body crewRequest: CrewRequest): Response<TripBody>

    /**
     * POST v1/drivers/me/trips/{id}/status
     * Report the next state on the road: en_route_to_pickup, at_pickup, in_transit, delivered.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 404: TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND
     *  - 409: TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS
     *  - 422: VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param idempotencyKey 
     * @param tripStatusRequest 
     * @return [TripBody]
     */
    @POST("v1/drivers/me/trips/{id}/status")
    suspend fun updateTripStatus(@Path("id") id: java.util.UUID, @Header("Idempotency-Key") idempotencyKey: kotlin.String, @Body tripStatusRequest: TripStatusRequest): Response<TripBody>

}
