package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.DriverBody
import app.weelo.api.models.DriverChange
import app.weelo.api.models.DriverList
import app.weelo.api.models.NewDriver
import app.weelo.api.models.NewVehicle
import app.weelo.api.models.Problem
import app.weelo.api.models.VehicleBody
import app.weelo.api.models.VehicleChange
import app.weelo.api.models.VehicleList

interface FleetApi {
    /**
     * POST v1/transporters/me/drivers
     * Add a driver to my fleet.
     * 
     * Responses:
     *  - 201: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param newDriver 
     * @return [DriverBody]
     */
    @POST("v1/transporters/me/drivers")
    suspend fun addDriver(@Body newDriver: NewDriver): Response<DriverBody>

    /**
     * POST v1/transporters/me/vehicles
     * Register a vehicle.
     * 
     * Responses:
     *  - 201: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param newVehicle 
     * @return [VehicleBody]
     */
    @POST("v1/transporters/me/vehicles")
    suspend fun addVehicle(@Body newVehicle: NewVehicle): Response<VehicleBody>

    /**
     * GET v1/transporters/me/drivers/{id}
     * One of my drivers.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [DriverBody]
     */
    @GET("v1/transporters/me/drivers/{id}")
    suspend fun getDriver(@Path("id") id: java.util.UUID): Response<DriverBody>

    /**
     * GET v1/transporters/me/vehicles/{id}
     * One of my vehicles.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [VehicleBody]
     */
    @GET("v1/transporters/me/vehicles/{id}")
    suspend fun getVehicle(@Path("id") id: java.util.UUID): Response<VehicleBody>

    /**
     * GET v1/transporters/me/drivers
     * My drivers.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [DriverList]
     */
    @GET("v1/transporters/me/drivers")
    suspend fun listDrivers(): Response<DriverList>

    /**
     * GET v1/transporters/me/vehicles
     * My vehicles.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @return [VehicleList]
     */
    @GET("v1/transporters/me/vehicles")
    suspend fun listVehicles(): Response<VehicleList>

    /**
     * DELETE v1/transporters/me/drivers/{id}
     * Remove a driver who has no trips on record.
     * 
     * Responses:
     *  - 204: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [Unit]
     */
    @DELETE("v1/transporters/me/drivers/{id}")
    suspend fun removeDriver(@Path("id") id: java.util.UUID): Response<Unit>

    /**
     * DELETE v1/transporters/me/vehicles/{id}
     * Remove a vehicle that has no trips on record.
     * 
     * Responses:
     *  - 204: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @return [Unit]
     */
    @DELETE("v1/transporters/me/vehicles/{id}")
    suspend fun removeVehicle(@Path("id") id: java.util.UUID): Response<Unit>

    /**
     * PATCH v1/transporters/me/drivers/{id}
     * Rename a driver.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param driverChange 
     * @return [DriverBody]
     */
    @PATCH("v1/transporters/me/drivers/{id}")
    suspend fun updateDriver(@Path("id") id: java.util.UUID, @Body driverChange: DriverChange): Response<DriverBody>

    /**
     * PATCH v1/transporters/me/vehicles/{id}
     * Change a vehicle&#39;s subtype or status.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED
     *  - 403: ROLE_FORBIDDEN: transporters only
     *  - 404: VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)
     *  - 409: VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE
     *  - 422: VALIDATION_FAILED (see errors)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE
     *
     * @param id 
     * @param vehicleChange 
     * @return [VehicleBody]
     */
    @PATCH("v1/transporters/me/vehicles/{id}")
    suspend fun updateVehicle(@Path("id") id: java.util.UUID, @Body vehicleChange: VehicleChange): Response<VehicleBody>

}
