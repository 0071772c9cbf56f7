package app.weelo.api.infrastructure

import com.squareup.moshi.Moshi
import com.squareup.moshi.adapters.EnumJsonAdapter

object SerializerHelper {
    fun addEnumUnknownDefaultCase(moshiBuilder: Moshi.Builder): Moshi.Builder {
        return moshiBuilder
            .add(app.weelo.api.models.BroadcastStatus::class.java, EnumJsonAdapter.create(app.weelo.api.models.BroadcastStatus::class.java)
                .withUnknownFallback(app.weelo.api.models.BroadcastStatus.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.DeliveryDto::class.java, EnumJsonAdapter.create(app.weelo.api.models.DeliveryDto::class.java)
                .withUnknownFallback(app.weelo.api.models.DeliveryDto.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.HoldStatus::class.java, EnumJsonAdapter.create(app.weelo.api.models.HoldStatus::class.java)
                .withUnknownFallback(app.weelo.api.models.HoldStatus.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.Platform::class.java, EnumJsonAdapter.create(app.weelo.api.models.Platform::class.java)
                .withUnknownFallback(app.weelo.api.models.Platform.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.RoleDto::class.java, EnumJsonAdapter.create(app.weelo.api.models.RoleDto::class.java)
                .withUnknownFallback(app.weelo.api.models.RoleDto.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.TripStatus::class.java, EnumJsonAdapter.create(app.weelo.api.models.TripStatus::class.java)
                .withUnknownFallback(app.weelo.api.models.TripStatus.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.TruckRequestStatus::class.java, EnumJsonAdapter.create(app.weelo.api.models.TruckRequestStatus::class.java)
                .withUnknownFallback(app.weelo.api.models.TruckRequestStatus.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.VehicleStatus::class.java, EnumJsonAdapter.create(app.weelo.api.models.VehicleStatus::class.java)
                .withUnknownFallback(app.weelo.api.models.VehicleStatus.unknown_default_open_api).nullSafe())
            .add(app.weelo.api.models.VehicleType::class.java, EnumJsonAdapter.create(app.weelo.api.models.VehicleType::class.java)
                .withUnknownFallback(app.weelo.api.models.VehicleType.unknown_default_open_api).nullSafe())
    }
}
