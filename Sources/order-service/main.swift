import OrderService
import ServiceKit

await ServiceHost.main(OrderService.self)
