package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.Availability
import app.weelo.api.models.AvailabilityBody
import app.weelo.api.models.DeviceRegistration
import app.weelo.api.models.DeviceRemoval
import app.weelo.api.models.DriverHeartbeatBody
import app.weelo.api.models.Heartbeat
import app.weelo.api.models.HeartbeatBody
import app.weelo.api.models.Problem

interface PresenceApi {
    /**
     * POST v1/drivers/me/heartbeat
     * A driver&#39;s app, while its driver is available, every ~12 s: keeps the driver shown online (it lapses after &#x60;presenceExpiresIn&#x60; seconds without one, as a dead phone would).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [DriverHeartbeatBody]
     */
    @POST("v1/drivers/me/heartbeat")
    suspend fun driverHeartbeat(): Response<DriverHeartbeatBody>

    /**
     * PUT v1/devices/me
     * Register this device&#39;s FCM token for push notifications. A user has at most 5 devices (a sixth replaces the least recently registered) and may register 20 times an hour; a token belongs to the last user who registered it.
     * 
     * Responses:
     *  - 204: 
     *  - 401: UNAUTHORIZED
     *  - 422: VALIDATION_FAILED
     *  - 429: RATE_LIMITED: too many device registrations this hour (see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param deviceRegistration 
     * @return [Unit]
     */
    @PUT("v1/devices/me")
    suspend fun registerDevice(@Body deviceRegistration: DeviceRegistration): Response<Unit>

    /**
     * DELETE v1/devices/me
     * Stop push notifications to this device.
     * 
     * Responses:
     *  - 204: 
     *  - 401: UNAUTHORIZED
     *  - 422: VALIDATION_FAILED
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param deviceRemoval 
     * @return [Unit]
     */
    @DELETE("v1/devices/me")
    suspend fun removeDevice(@Body deviceRemoval: DeviceRemoval): Response<Unit>

    /**
     * PUT v1/drivers/me/availability
     * A driver tells its transporter whether it is available (online lasts the presence TTL unless heartbeats renew it).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 422: VALIDATION_FAILED
     *  - 429: AVAILABILITY_THROTTLED: toggled less than 5 s ago (see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param availability 
     * @return [AvailabilityBody]
     */
    @PUT("v1/drivers/me/availability")
    suspend fun setDriverAvailability(@Body availability: Availability): Response<AvailabilityBody>

    /**
     * PUT v1/transporters/me/availability
     * Go online or offline for broadcasts.
     * Online transporters are matched once their heartbeats give a position. Going online also sends you the open broadcasts already in reach. At most one toggle per 5 s.
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN
     *  - 422: VALIDATION_FAILED
     *  - 429: AVAILABILITY_THROTTLED: toggled less than 5 s ago (see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param availability 
     * @return [AvailabilityBody]
     */
    @PUT("v1/transporters/me/availability")
    suspend fun setTransporterAvailability(@Body availability: Availability): Response<AvailabilityBody>

    /**
     * POST v1/transporters/me/heartbeat
     * Report your position (every ~12 s while online).
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 409: TRANSPORTER_OFFLINE: go online first
     *  - 422: VALIDATION_FAILED: coordinates outside India
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param heartbeat 
     * @return [HeartbeatBody]
     */
    @POST("v1/transporters/me/heartbeat")
    suspend fun transporterHeartbeat(@Body heartbeat: Heartbeat): Response<HeartbeatBody>

}
